package main

import (
	"fmt"

	"connectrpc.com/connect"
	syncv1 "github.com/livestore-sync/livestore-sync/gen/livestore/sync/v1"
)

// backupCmd runs `livestore-sync backup`: the server copies its database into a directory.
func backupCmd(env *cliEnv, args []string) error {
	fs := newFlagSet("backup", "backup DIR [flags]",
		`Has the server write an online, consistent copy of its whole database (every store) into DIR,
on the server's file system, and prints the copy's absolute path and size. Every push
acknowledged before the backup is in it. DIR must not exist yet and its parent must; a relative
DIR is relative to the server's working directory, not this command's. To restore, start a
server on it (or on a copy): livestore-sync serve --data-dir DIR. Needs the admin secret.
A server on PostgreSQL (--postgres) refuses: back the database up with PostgreSQL's own tools
(pg_dump, pg_basebackup, or your provider's snapshots).`, env.stderr)
	cf := addClientFlags(fs)
	pos, err := parseArgs(fs, args, "DIR")
	if err != nil {
		return err
	}
	if pos[0] == "" {
		return usageError{fmt.Errorf("DIR is empty")}
	}
	c, err := cf.dial()
	if err != nil {
		return err
	}
	resp, err := c.admin.Backup(env.ctx, connect.NewRequest(&syncv1.BackupRequest{Dir: pos[0]}))
	if err != nil {
		return c.explain(err, "", true)
	}
	fmt.Fprintf(env.stdout, "backup written to %s (%s, %d bytes)\n", resp.Msg.GetDir(), formatBytes(resp.Msg.GetBytes()), resp.Msg.GetBytes())
	return nil
}
