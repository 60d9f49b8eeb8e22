package pgstore

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// migrations holds the schema's migrations, NNNN_name.sql, applied in the order of NNNN. A
// migration, once released, is never edited: a change of schema is a new file.
//
//go:embed migrations/*.sql
var migrations embed.FS

// migration is one embedded migration.
type migration struct {
	version int
	name    string
	sql     string
}

// loadMigrations returns the embedded migrations in order, with {{schema}} replaced by schema (a
// quoted identifier).
func loadMigrations(schema string) ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, ent := range entries {
		name := ent.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil || v <= 0 {
			return nil, fmt.Errorf("migration %s: name does not start with a positive number and _", name)
		}
		body, err := migrations.ReadFile(path.Join("migrations", name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, sql: strings.ReplaceAll(string(body), "{{schema}}", schema)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := range ms {
		if ms[i].version != i+1 {
			return nil, fmt.Errorf("migration %s: want version %d", ms[i].name, i+1)
		}
	}
	return ms, nil
}

// migrate creates the schema when missing and applies the migrations it lacks, in one
// transaction that holds an advisory lock of the schema, so that nodes starting at once apply
// each migration once. It refuses a schema newer than this binary knows.
func migrate(ctx context.Context, pool *pgxpool.Pool, schema string) error {
	quoted := pgx.Identifier{schema}.Sanitize()
	ms, err := loadMigrations(quoted)
	if err != nil {
		return fmt.Errorf("pgstore: load migrations: %w", err)
	}
	return pgx.BeginFunc(ctx, pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('livestore-sync schema ' || $1, 0))`, schema); err != nil {
			return fmt.Errorf("pgstore: lock schema %s for migration: %w", quoted, err)
		}
		if _, err := tx.Exec(ctx, `CREATE SCHEMA IF NOT EXISTS `+quoted); err != nil {
			return fmt.Errorf("pgstore: create schema %s: %w", quoted, err)
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS `+quoted+`.schema_version (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
			return fmt.Errorf("pgstore: create %s.schema_version: %w", quoted, err)
		}
		var current int
		if err := tx.QueryRow(ctx, `SELECT coalesce(max(version), 0) FROM `+quoted+`.schema_version`).Scan(&current); err != nil {
			return fmt.Errorf("pgstore: read schema version: %w", err)
		}
		if current > len(ms) {
			return fmt.Errorf("pgstore: schema %s is at version %d, newer than this binary's %d: run a newer livestore-sync", quoted, current, len(ms))
		}
		for _, m := range ms[current:] {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return fmt.Errorf("pgstore: migration %s: %w", m.name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO `+quoted+`.schema_version (version, name) VALUES ($1, $2)`, m.version, m.name); err != nil {
				return fmt.Errorf("pgstore: record migration %s: %w", m.name, err)
			}
		}
		return nil
	})
}
