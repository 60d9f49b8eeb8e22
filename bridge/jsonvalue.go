package bridge

import (
	"encoding/json"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/structpb"
)

// clientPayloadValue converts the client's payload to the request's google.protobuf.Value: the
// payload inside the RPC body when there is one (that is what the reference's onPush/onPull hooks
// see), else the payload of the URL. It returns nil when there is none, or when it cannot be
// represented (it is only passed on for inspection, never echoed, so it never fails a request).
func clientPayloadValue(body, url json.RawMessage) *structpb.Value {
	raw := body
	if raw == nil {
		raw = url
	}
	if raw == nil {
		return nil
	}
	v := &structpb.Value{}
	if err := protojson.Unmarshal(raw, v); err != nil {
		return nil
	}
	return v
}
