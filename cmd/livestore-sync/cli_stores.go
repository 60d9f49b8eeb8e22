package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
	"github.com/livestore-sync/livestore-sync/service"
	"github.com/livestore-sync/livestore-sync/service/eventjson"
)

const storesUsage = `Usage: livestore-sync stores COMMAND [flags]

Inspects and repairs the stores of a running server with its AdminService, which needs the
server's admin secret (--admin-secret, or LIVESTORE_SYNC_ADMIN_SECRET).

Commands:
  list [--json]           list the stores: id, head, events, size, creation time, backend id
  info STORE [--json]     describe one store
  reset STORE --yes       drop all of a store's events and give it a new backend id
  delete STORE --yes      delete a store and all its events

Run livestore-sync stores COMMAND --help for a command's flags.
`

// storesCmd runs `livestore-sync stores COMMAND`.
func storesCmd(env *cliEnv, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(env.stderr, storesUsage)
		return usageError{errors.New("missing command: list, info, reset or delete")}
	}
	switch args[0] {
	case "list":
		return storesList(env, args[1:])
	case "info":
		return storesInfo(env, args[1:])
	case "reset":
		return storesReset(env, args[1:])
	case "delete":
		return storesDelete(env, args[1:])
	case "help", "-h", "-help", "--help":
		fmt.Fprint(env.stdout, storesUsage)
		return nil
	}
	fmt.Fprint(env.stderr, storesUsage)
	return usageError{fmt.Errorf("unknown command %q", "stores "+args[0])}
}

// storesList runs `livestore-sync stores list`.
func storesList(env *cliEnv, args []string) error {
	fs := newFlagSet("stores list", "stores list [--json] [flags]",
		`Lists all stores of the server in store id order: id, head (the seqNum of the last event),
number of events, size of the events, creation (or last reset) time and backend id.`, env.stderr)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object per store and line instead of a table")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	var stores []*syncv1.StoreSummary
	req := &syncv1.ListStoresRequest{PageSize: service.MaxListPageSize}
	for {
		resp, err := c.admin.ListStores(env.ctx, connect.NewRequest(req))
		if err != nil {
			return c.explain(err, "", true)
		}
		stores = append(stores, resp.Msg.GetStores()...)
		if req.PageToken = resp.Msg.GetNextPageToken(); req.PageToken == "" {
			break
		}
	}
	if *asJSON {
		for _, st := range stores {
			if err := writeStoreJSON(env.stdout, st); err != nil {
				return err
			}
		}
		return nil
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "STORE\tHEAD\tEVENTS\tSIZE\tCREATED\tBACKEND ID")
	for _, st := range stores {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", displayID(st.GetStoreId()), st.GetHead(), st.GetEventCount(),
			formatBytes(st.GetEventBytes()), eventjson.FormatTime(st.GetCreatedAt().AsTime()), st.GetBackendId())
	}
	return tw.Flush()
}

// storesInfo runs `livestore-sync stores info`.
func storesInfo(env *cliEnv, args []string) error {
	fs := newFlagSet("stores info", "stores info STORE [--json] [flags]",
		`Describes STORE: its head (the seqNum of its last event), number of events, size of the
events, creation (or last reset) time and backend id. A missing store exits with code 3.`, env.stderr)
	cf := addClientFlags(fs)
	asJSON := fs.Bool("json", false, "print one JSON object instead of text")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	st, err := c.getStore(env.ctx, store)
	if err != nil {
		return err
	}
	if *asJSON {
		return writeStoreJSON(env.stdout, st)
	}
	tw := tabwriter.NewWriter(env.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "store:\t%s\n", displayID(st.GetStoreId()))
	fmt.Fprintf(tw, "head:\t%d\n", st.GetHead())
	fmt.Fprintf(tw, "events:\t%d\n", st.GetEventCount())
	fmt.Fprintf(tw, "size:\t%s (%d bytes)\n", formatBytes(st.GetEventBytes()), st.GetEventBytes())
	fmt.Fprintf(tw, "created:\t%s\n", eventjson.FormatTime(st.GetCreatedAt().AsTime()))
	fmt.Fprintf(tw, "backend id:\t%s\n", st.GetBackendId())
	return tw.Flush()
}

// storesReset runs `livestore-sync stores reset`.
func storesReset(env *cliEnv, args []string) error {
	fs := newFlagSet("stores reset", "stores reset STORE --yes [flags]",
		`Drops all events of STORE and gives it a new backend id. LiveStore clients that synced it get
a backend id mismatch on their next pull or push and must start over; its live pulls end.
Without --yes, says what it would do and exits with code 2. A missing store exits with code 3.`, env.stderr)
	cf := addClientFlags(fs)
	yes := fs.Bool("yes", false, "really reset the store")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	st, err := c.getStore(env.ctx, store)
	if err != nil {
		return err
	}
	if !*yes {
		return usageError{fmt.Errorf("this would drop all %s (%s) of store %q and give it a new backend id; "+
			"LiveStore clients that synced it would have to start over. Run again with --yes to do it",
			plural(st.GetEventCount(), "event"), formatBytes(st.GetEventBytes()), store)}
	}
	resp, err := c.admin.ResetStore(env.ctx, connect.NewRequest(&syncv1.ResetStoreRequest{StoreId: store}))
	if err != nil {
		return c.explain(err, store, true)
	}
	fmt.Fprintf(env.stdout, "reset store %q: dropped %s; its new backend id is %s\n",
		store, plural(st.GetEventCount(), "event"), resp.Msg.GetStore().GetBackendId())
	return nil
}

// storesDelete runs `livestore-sync stores delete`.
func storesDelete(env *cliEnv, args []string) error {
	fs := newFlagSet("stores delete", "stores delete STORE --yes [flags]",
		`Deletes STORE and all its events; its live pulls end. The next push or pull of the store id
creates it anew, with a new backend id. Without --yes, says what it would do and exits with
code 2. A missing store exits with code 3.`, env.stderr)
	cf := addClientFlags(fs)
	yes := fs.Bool("yes", false, "really delete the store")
	c, store, err := parseStoreCmd(fs, cf, args)
	if err != nil {
		return err
	}
	st, err := c.getStore(env.ctx, store)
	if err != nil {
		return err
	}
	if !*yes {
		return usageError{fmt.Errorf("this would delete store %q and its %s (%s). Run again with --yes to do it",
			store, plural(st.GetEventCount(), "event"), formatBytes(st.GetEventBytes()))}
	}
	if _, err := c.admin.DeleteStore(env.ctx, connect.NewRequest(&syncv1.DeleteStoreRequest{StoreId: store})); err != nil {
		return c.explain(err, store, true)
	}
	fmt.Fprintf(env.stdout, "deleted store %q and its %s\n", store, plural(st.GetEventCount(), "event"))
	return nil
}

// storeJSON is a store as stores list --json and stores info --json print it.
type storeJSON struct {
	StoreID    string `json:"storeId"`
	Head       uint64 `json:"head"`
	EventCount uint64 `json:"eventCount"`
	EventBytes uint64 `json:"eventBytes"`
	CreatedAt  string `json:"createdAt"`
	BackendID  string `json:"backendId"`
}

// writeStoreJSON writes st as one line of JSON.
func writeStoreJSON(w io.Writer, st *syncv1.StoreSummary) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(storeJSON{
		StoreID: st.GetStoreId(), Head: st.GetHead(), EventCount: st.GetEventCount(), EventBytes: st.GetEventBytes(),
		CreatedAt: eventjson.FormatTime(st.GetCreatedAt().AsTime()), BackendID: st.GetBackendId(),
	})
}
