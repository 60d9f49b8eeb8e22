// Package bridge serves LiveStore's own sync protocols, as spoken by the clients of
// @livestore/sync-cf 0.4.0 (makeWsSync, makeHttpSync), on top of the sync service.
//
// Both transports carry Effect RPC messages in JSON. The bridge decodes a client's requests into
// the service's protobuf requests (rpc.go, payload.go), calls the service, and encodes the
// results back into Effect RPC messages (encode.go), byte for byte as the reference server
// writes them. Routing (route.go, handler.go) mirrors the reference worker: one catch-all
// endpoint whose query string (storeId, transport, payload) decides what a request is.
//
// The WebSocket transport (conn.go, requests.go, outqueue.go, order.go) runs every request of a
// socket concurrently, gates each pull's backlog pages on the client's Acks, forwards live pages
// without waiting, keeps the reference's order between live Chunks and push Exits, and protects
// the server with a read limit, a bounded outgoing queue, an idle timeout and a per-socket
// request limit. The HTTP transport (http.go) runs the one request of each body (non-live pulls
// only; the client polls) and answers with the JSON array of all its messages, gzipped when the
// client allows it, within a body limit and a request timeout.
//
// LiveStore 0.3's WebSocket protocol (@livestore/sync-cf 0.3.1, makeCfSync: WSMessage frames at a
// path ending in /websocket, without a transport parameter) runs on the same socket machinery
// (ws03.go, ws03frame.go, ws03route.go): its pushes and pulls are the service's, and each socket
// follows its store with one live pull for 0.3's broadcasts.
//
// The wire protocol is described in PROTOCOL.md in this directory (comments cite its sections,
// "§5.3"); every deliberate difference from the reference server is documented there and where it
// is implemented.
package bridge
