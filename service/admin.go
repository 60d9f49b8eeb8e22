package service

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/livestore-sync/livestore-sync/service/storage"
)

// ErrStoreNotFound is returned by the admin operations for a store that does not exist. It is
// the storage engines' error (storage.ErrStoreNotFound): one error, whichever layer reports it.
var ErrStoreNotFound = storage.ErrStoreNotFound

// ErrStoreDeleted ends the live pulls of a store that an operator deleted.
var ErrStoreDeleted = errors.New("store was deleted")

// ListStores returns up to limit stores after the store id after, in the engine's order (pass ""
// for the first page).
func (s *Service) ListStores(ctx context.Context, after string, limit int) ([]storage.StoreSummary, error) {
	if err := s.track(); err != nil {
		return nil, err
	}
	defer s.inflight.Done()
	stores, err := s.engine.ListStores(after, limit)
	if err != nil {
		return nil, &StorageError{Op: "list stores", Err: err}
	}
	return stores, nil
}

// GetStore returns a store's metadata, or ErrStoreNotFound. Unlike a pull, it never creates the
// store.
func (s *Service) GetStore(ctx context.Context, storeID string) (storage.StoreInfo, error) {
	st, release, err := s.lockStore(ctx, storeID)
	if err != nil {
		return storage.StoreInfo{}, err
	}
	defer release()
	if err := s.loadExisting(st); err != nil {
		return storage.StoreInfo{}, err
	}
	return st.info, nil
}

// ResetStore drops all of a store's events and gives it a new backend id, so that clients that
// synced with the old one get a *BackendIDMismatchError. Its live pulls end with that error.
func (s *Service) ResetStore(ctx context.Context, storeID string) (storage.StoreInfo, error) {
	st, release, err := s.lockStore(ctx, storeID)
	if err != nil {
		return storage.StoreInfo{}, err
	}
	defer release()
	if err := s.loadExisting(st); err != nil {
		return storage.StoreInfo{}, err
	}
	info := storage.StoreInfo{BackendID: s.newBackendID(), CreatedAt: s.now().Truncate(time.Millisecond)}
	if err := s.engine.CreateStore(storeID, info); err != nil {
		st.loaded = false
		return storage.StoreInfo{}, &StorageError{Op: "reset store", Err: err}
	}
	s.setInfo(st, info) // ends the live pulls: a new backend id
	return info, nil
}

// DeleteStore removes a store and all its events; its live pulls end with ErrStoreDeleted. The
// next push or pull of the store id creates it anew. Deleting a missing store is not an error.
func (s *Service) DeleteStore(ctx context.Context, storeID string) error {
	st, release, err := s.lockStore(ctx, storeID)
	if err != nil {
		return err
	}
	defer release()
	st.loaded = false
	if err := s.engine.DeleteStore(storeID); err != nil {
		return &StorageError{Op: "delete store", Err: err}
	}
	s.forget(st, ErrStoreDeleted)
	return nil
}

// Backup writes a consistent copy of the whole database into dir, which must not exist, while
// the service keeps serving. It returns the absolute path of the copy and its size in bytes.
func (s *Service) Backup(ctx context.Context, dir string) (string, uint64, error) {
	if err := s.track(); err != nil {
		return "", 0, err
	}
	defer s.inflight.Done()
	if dir == "" {
		return "", 0, &InvalidRequestError{Reason: "backup directory is empty"}
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", 0, &InvalidRequestError{Reason: fmt.Sprintf("backup directory %q: %v", dir, err)}
	}
	if _, err := os.Stat(abs); err == nil {
		return "", 0, &InvalidRequestError{Reason: fmt.Sprintf("backup directory %s exists already", abs)}
	}
	if err := s.engine.Checkpoint(abs); err != nil {
		return "", 0, &StorageError{Op: "backup", Err: err}
	}
	var size uint64
	err = filepath.WalkDir(abs, func(_ string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		info, err := d.Info()
		if err == nil {
			size += uint64(info.Size())
		}
		return err
	})
	if err != nil {
		return abs, 0, fmt.Errorf("measure backup %s: %w", abs, err)
	}
	return abs, size, nil
}

// lockStore registers an admin request for a valid store id and takes the store's lock. release
// undoes both.
func (s *Service) lockStore(ctx context.Context, storeID string) (st *store, release func(), err error) {
	if err := s.track(); err != nil {
		return nil, nil, err
	}
	if err := s.checkStoreID(storeID); err != nil {
		s.inflight.Done()
		return nil, nil, err
	}
	st = s.acquireStore(storeID)
	if err := st.lock(ctx); err != nil {
		s.releaseStore(st)
		s.inflight.Done()
		return nil, nil, err
	}
	return st, func() { st.unlock(); s.releaseStore(st); s.inflight.Done() }, nil
}

// loadExisting loads a store's metadata into st, returning ErrStoreNotFound for a missing store.
// The caller holds the store's lock.
func (s *Service) loadExisting(st *store) error {
	err := s.loadFresh(st, false)
	if errors.Is(err, ErrStoreNotFound) {
		return ErrStoreNotFound
	}
	return err
}
