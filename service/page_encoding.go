package service

import (
	"context"
	"sync"

	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
	"github.com/livestore-sync/livestore-sync/service/storage"
)

// A Page is one page of a pull: some of a store's events, in order, and what follows them. It
// is built from the stored records and encoded on demand, at most once per encoding, however
// many pulls it is sent to: a live delivery's pages are shared by every live pull of the store,
// so a push to a store with many live pulls is encoded once for each transport's encoding that
// one of them uses (JSON for LiveStore's WebSocket and HTTP transports, protobuf for Connect and
// gRPC), not once per pull.
//
// A Page, and what its methods return, must not be modified. Its methods are safe for
// concurrent use.
type Page struct {
	backendID string
	recs      []storage.Record // set for a page built by the service
	remaining uint64           // events still to come in the backlog after this page; 0 is NoMore
	bytes     int              // the events' size in LiveStore's JSON encoding (Service.pageLen)

	respOnce sync.Once
	resp     *syncv1.PullResponse // set at once for a page made by PageOf
	respErr  error                // a stored event that could not be decoded
	jsonOnce sync.Once
	json     []byte
}

// PageOf returns the Page of a PullResponse that is not modified afterwards: for transports
// that get their pages from a service other than this package's (tests' fakes).
func PageOf(resp *syncv1.PullResponse) *Page {
	p := &Page{resp: resp, backendID: resp.GetBackendId()}
	p.respOnce.Do(func() {})
	return p
}

// newPage returns the page of recs, followed by remaining more events. It keeps recs.
func newPage(backendID string, recs []storage.Record, remaining uint64, bytes int) *Page {
	return &Page{backendID: backendID, recs: recs, remaining: remaining, bytes: bytes}
}

// Response returns the page as a PullResponse, built on the first call. Events the engine
// returned encoded (storage.Record.Encoded) are decoded; the error, a *StorageError, is for a
// stored event that cannot be (corrupt data).
func (p *Page) Response() (*syncv1.PullResponse, error) {
	p.respOnce.Do(func() {
		batch := make([]*syncv1.PulledEvent, len(p.recs))
		for i := range p.recs {
			e, err := pulledEvent(&p.recs[i])
			if err != nil {
				p.respErr = &StorageError{Op: "read", Err: err}
				return
			}
			batch[i] = e
		}
		info := noMore()
		if p.remaining > 0 {
			info = &syncv1.PageInfo{Kind: &syncv1.PageInfo_MoreKnown_{MoreKnown: &syncv1.PageInfo_MoreKnown{Remaining: p.remaining}}}
		}
		p.resp = &syncv1.PullResponse{Batch: batch, PageInfo: info, BackendId: p.backendID}
	})
	return p.resp, p.respErr
}

// JSON returns the page in LiveStore's JSON encoding, eventjson.AppendPullResponse of
// Response, encoded on the first call straight from the stored records.
func (p *Page) JSON() []byte {
	p.jsonOnce.Do(func() {
		if p.recs == nil {
			p.json = eventjson.AppendPullResponse(nil, p.resp) // a page of PageOf
			return
		}
		p.json = appendPageJSON(make([]byte, 0, p.bytes+eventjson.PageOverhead), p.backendID, p.recs, p.remaining)
	})
	return p.json
}

// NoMore reports whether the page's page info is NoMore: nothing more in the backlog.
func (p *Page) NoMore() bool {
	if p.recs == nil && p.resp != nil {
		k := p.resp.GetPageInfo().GetKind()
		_, noMore := k.(*syncv1.PageInfo_NoMore_)
		return noMore || k == nil // eventjson writes nil as NoMore
	}
	return p.remaining == 0
}

// Len returns the number of events of the page.
func (p *Page) Len() int {
	if p.recs == nil && p.resp != nil {
		return len(p.resp.GetBatch())
	}
	return len(p.recs)
}

// LastSeqNum returns the sequence number of the page's last event, 0 when it has none.
func (p *Page) LastSeqNum() uint64 {
	if p.recs == nil && p.resp != nil {
		batch := p.resp.GetBatch()
		if len(batch) == 0 {
			return 0
		}
		return batch[len(batch)-1].GetEvent().GetSeqNum()
	}
	if len(p.recs) == 0 {
		return 0
	}
	return p.recs[len(p.recs)-1].SeqNum
}

// appendPageJSON appends eventjson.AppendPullResponse of the page of recs followed by remaining
// events, without building it: the events' Encoded bytes are copied as they are (records an
// engine returned with their fields only, of older versions, are encoded). Events stored by one
// push share their creation time, so it is formatted once per run of equal times.
func appendPageJSON(dst []byte, backendID string, recs []storage.Record, remaining uint64) []byte {
	var (
		timeBuf  [len(eventjson.TimeLayout)]byte
		created  []byte
		lastTime int64
	)
	return eventjson.AppendPullResponseOf(dst, len(recs), func(dst []byte, i int) []byte {
		r := &recs[i]
		if created == nil || r.CreatedAt != lastTime {
			created, lastTime = eventjson.AppendTime(timeBuf[:0], r.CreatedAt), r.CreatedAt
		}
		if r.Encoded != nil {
			return eventjson.AppendPulledEventEncoded(dst, r.Encoded, created)
		}
		return eventjson.AppendPulledEventOf(dst, r.Name, r.Args, r.ClientID, r.SessionID, r.SeqNum, r.ParentSeqNum, created)
	}, remaining, backendID)
}

// Pull sends the store's events after req.Cursor as PullPages does, each page as a
// PullResponse.
func (s *Service) Pull(ctx context.Context, req *syncv1.PullRequest, send func(*syncv1.PullResponse) error) error {
	return s.PullPages(ctx, req, func(p *Page) error {
		resp, err := p.Response()
		if err != nil {
			return err
		}
		return send(resp)
	})
}
