package storagetest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// testListStores checks ListStores over the tricky ids: every store once, in one order that
// paging with any limit follows, with its current metadata; deleted stores gone; the order one of
// ids, whether they exist or not.
func testListStores(t *testing.T, e storage.Engine, o Options) {
	for _, after := range []string{"", "a", "missing"} {
		if got := list(t, e, after, 10); len(got) != 0 {
			t.Errorf("ListStores(%s, 10) of an empty engine = %s, want none", quoteID(after), ids(got))
		}
	}

	models := map[string]*model{}
	for i, id := range o.storeIDs() {
		m := newModel(id, "b-"+strconv.Itoa(i))
		m.create(t, e)
		for range i % 4 { // some stores stay empty
			m.appendEvents(t, e, m.next(i%5+1))
		}
		models[id] = m
	}
	gone := newModel("deleted", "b1")
	gone.create(t, e)
	gone.appendEvents(t, e, gone.next(3))
	if err := e.DeleteStore(gone.id); err != nil {
		t.Fatalf("DeleteStore: %v", err)
	}
	replaced := newModel("replaced", "b1")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(5))
	replaced = newModel("replaced", "b2")
	replaced.create(t, e)
	replaced.appendEvents(t, e, replaced.next(2))
	models[replaced.id] = replaced

	full := list(t, e, "", math.MaxInt)
	if err := sameStores(full, models); err != nil {
		t.Fatalf("ListStores(\"\", max): %v", err)
	}
	// "" means "from the first store", so the store "" must be the first: paging could not get
	// past it otherwise.
	if full[0].ID != "" {
		t.Errorf("ListStores(\"\", max) lists %s first, want the store \"\"", quoteID(full[0].ID))
	}

	for _, after := range []string{"", "a", "missing", full[len(full)/2].ID} {
		for _, limit := range []int{0, -1, math.MinInt} {
			if got := list(t, e, after, limit); len(got) != 0 {
				t.Errorf("ListStores(%s, %d) = %s, want none", quoteID(after), limit, ids(got))
			}
		}
	}

	// A page is the next limit stores of the order, from the store after the given one.
	for i, s := range full {
		if s.ID == "" {
			continue // "" starts from the first store, itself included
		}
		for _, limit := range []int{1, 3, math.MaxInt} {
			want := full[i+1 : i+1+min(limit, len(full)-i-1)]
			if err := sameSummaries(list(t, e, s.ID, limit), want); err != nil {
				t.Errorf("ListStores(%s, %d): %v", quoteID(s.ID), limit, err)
			}
		}
	}
	// Paging with any limit visits every store once, in the same order. (A limit of 1 cannot
	// page past the store "": see below.)
	for _, limit := range []int{2, 3, 5, 7, len(full) - 1, len(full), len(full) + 1} {
		if err := sameSummaries(listAll(t, e, limit), full); err != nil {
			t.Errorf("paging with limit %d: %v", limit, err)
		}
	}

	// The order is one of ids, whether they exist or not: the stores after a missing id are
	// the stores after it once it exists.
	for _, id := range o.keep(
		"missing", "a\x00\x00", "aa", "zz", "\x00\x01", "\xfe", "日本", strings.Repeat("x", 126),
		strings.Repeat("x", 200), strings.Repeat("x", 200)+"b", strings.Repeat("日", 200)+"b",
		strings.Repeat("\xff", 1000), strings.Repeat("\x00", 129),
	) {
		if _, ok := models[id]; ok {
			t.Fatalf("test bug: %s is one of the stores", quoteID(id))
		}
		afterMissing := list(t, e, id, math.MaxInt)
		if err := sameSummaries(afterMissing, full[len(full)-len(afterMissing):]); err != nil {
			t.Errorf("ListStores(missing %s) is not a tail of all stores: %v", quoteID(id), err)
			continue
		}
		m := newModel(id, "b1")
		m.create(t, e)
		withIt := list(t, e, "", math.MaxInt)
		j := slices.IndexFunc(withIt, func(s storage.StoreSummary) bool { return s.ID == id })
		if j < 0 {
			t.Errorf("created store %s not listed", quoteID(id))
		} else {
			if err := sameSummaries(withIt[j+1:], afterMissing); err != nil {
				t.Errorf("stores after %s once created: %v; before: %s", quoteID(id), err, ids(afterMissing))
			}
			if err := sameSummaries(slices.Delete(withIt, j, j+1), full); err != nil {
				t.Errorf("creating %s changed the other stores' order: %v", quoteID(id), err)
			}
		}
		if err := e.DeleteStore(id); err != nil {
			t.Fatalf("DeleteStore: %v", err)
		}
	}

	// Deleted stores vanish, the others keep their order; then "" is gone and a limit of 1 pages.
	deleted := o.keep("", "a", "\xff", strings.Repeat("x", 128), full[1].ID, full[len(full)-1].ID)
	for _, id := range deleted {
		if err := e.DeleteStore(id); err != nil {
			t.Fatalf("DeleteStore(%s): %v", quoteID(id), err)
		}
		delete(models, id)
	}
	isDeleted := func(s storage.StoreSummary) bool { return slices.Contains(deleted, s.ID) }
	rest := slices.DeleteFunc(slices.Clone(full), isDeleted)
	for _, limit := range []int{1, 2, 4, math.MaxInt} {
		if err := sameSummaries(listAll(t, e, limit), rest); err != nil {
			t.Errorf("after deletes, paging with limit %d: %v", limit, err)
		}
	}
	afterDeleted := slices.DeleteFunc(slices.Clone(full[2:]), isDeleted)
	if err := sameSummaries(list(t, e, full[1].ID, math.MaxInt), afterDeleted); err != nil {
		t.Errorf("ListStores(deleted %s): %v", quoteID(full[1].ID), err)
	}

	// The listing follows appends, replacements and new stores.
	m := models["ab"]
	m.appendEvents(t, e, m.next(4))
	m = newModel("A", "b-new")
	m.create(t, e)
	models["A"] = m
	m = newModel("", "b-back")
	m.create(t, e)
	m.appendEvents(t, e, m.next(1))
	models[""] = m
	if err := sameStores(listAll(t, e, 3), models); err != nil {
		t.Errorf("after more writes: %v", err)
	}
}

// list calls ListStores and fails t on an error or a page longer than limit.
func list(t testing.TB, e storage.Engine, after string, limit int) []storage.StoreSummary {
	t.Helper()
	got, err := e.ListStores(after, limit)
	if err != nil {
		t.Fatalf("ListStores(%s, %d): %v", quoteID(after), limit, err)
	}
	if limit >= 0 && len(got) > limit {
		t.Fatalf("ListStores(%s, %d) returned %d stores", quoteID(after), limit, len(got))
	}
	return got
}

// listAll pages through all the stores of e, limit a page, each page after the last store of the
// one before, until a page is short. With a limit of 1 the store "" must not exist: the page
// after it would start from the first store again.
func listAll(t testing.TB, e storage.Engine, limit int) []storage.StoreSummary {
	t.Helper()
	var all []storage.StoreSummary
	after := ""
	for pages := 0; ; pages++ {
		if pages > 0 && after == "" {
			t.Fatalf("paging with limit %d: cannot page past the store \"\"", limit)
		}
		if pages > 100_000 {
			t.Fatalf("paging with limit %d does not end", limit)
		}
		page := list(t, e, after, limit)
		all = append(all, page...)
		if len(page) < limit {
			return all
		}
		after = page[len(page)-1].ID
	}
}

// sameStores returns an error unless got lists each store of models once, with its metadata.
func sameStores(got []storage.StoreSummary, models map[string]*model) error {
	seen := make(map[string]bool, len(got))
	for _, s := range got {
		m, ok := models[s.ID]
		switch {
		case seen[s.ID]:
			return fmt.Errorf("store %s listed twice", quoteID(s.ID))
		case !ok:
			return fmt.Errorf("store %s listed, want it missing", quoteID(s.ID))
		}
		seen[s.ID] = true
		if err := sameInfo(s.Info, m.info); err != nil {
			return fmt.Errorf("store %s: %v", quoteID(s.ID), err)
		}
	}
	for id := range models {
		if !seen[id] {
			return fmt.Errorf("store %s not listed", quoteID(id))
		}
	}
	return nil
}

// sameSummaries returns an error unless got and want list the same stores with the same
// metadata in the same order.
func sameSummaries(got, want []storage.StoreSummary) error {
	if len(got) != len(want) {
		return fmt.Errorf("%d stores %s, want %d %s", len(got), ids(got), len(want), ids(want))
	}
	for i := range got {
		if got[i].ID != want[i].ID {
			return fmt.Errorf("store %d is %s, want %s: %s, want %s", i, quoteID(got[i].ID), quoteID(want[i].ID), ids(got), ids(want))
		}
		if err := sameInfo(got[i].Info, want[i].Info); err != nil {
			return fmt.Errorf("store %s: %v", quoteID(got[i].ID), err)
		}
	}
	return nil
}

// ids lists the ids of stores, for messages.
func ids(stores []storage.StoreSummary) string {
	s := make([]string, len(stores))
	for i := range stores {
		s[i] = quoteID(stores[i].ID)
	}
	return "[" + strings.Join(s, " ") + "]"
}

// quoteID quotes a store id for messages, eliding the middle of a long one.
func quoteID(id string) string {
	if len(id) > 40 {
		return fmt.Sprintf("%q…(%d bytes)", id[:20], len(id))
	}
	return strconv.Quote(id)
}
