// Package ceiling measures what the machine and the load generator allow, for reading the
// figures of `livestore-sync bench` against: a null server that speaks LiveStore's WebSocket
// protocol but does next to nothing, and the rate of Pebble's own synced commits.
//
// The null server is a measuring device, not a sync backend: it keeps events in memory, checks
// nothing but a push's parent, never touches a disk and forgets everything when closed. Every
// real transport goes through service.Service.
package ceiling
