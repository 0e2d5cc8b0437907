package sqlstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/gatehouse-dev/gatehouse/internal/storage/migrations"
)

// ErrSchemaTooNew is returned when the database was migrated by a newer
// Gatehouse than this one, which refuses to run against a schema it does
// not know.
var ErrSchemaTooNew = errors.New("database schema too new")

// Migrate applies every pending migration, holding a database lock so that
// instances starting at once migrate one after another (the others find
// nothing left to do). It refuses a database migrated by a newer version.
func (s *Store) Migrate(ctx context.Context) error {
	return s.withProvider(ctx, func(p *goose.Provider) error {
		if err := s.compareVersions(ctx, p); err != nil {
			return err
		}
		_, err := p.Up(ctx)
		// SQLite has no lock to take around goose. When two processes
		// migrate one file at once, each migration's transaction (DDL
		// included) commits in one of them and rolls back whole in the
		// other, which then finds the schema applied: try again a few times.
		for attempt := 1; err != nil && s.d == dialectSQLite && attempt < 5; attempt++ {
			if current, known, verr := p.GetVersions(ctx); verr == nil && current >= known {
				return nil
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			}
			_, err = p.Up(ctx)
		}
		if err != nil {
			return fmt.Errorf("migrating %s database: %w", s.d.Name(), s.d.mapErr(err))
		}
		return nil
	})
}

// SchemaVersion returns the version the database is migrated to (0 for an
// empty database) and the newest version this binary knows.
func (s *Store) SchemaVersion(ctx context.Context) (current, known int64, err error) {
	err = s.withProvider(ctx, func(p *goose.Provider) error {
		current, known, err = p.GetVersions(ctx)
		return err
	})
	return current, known, err
}

// checkSchema refuses a database migrated by a newer version.
func (s *Store) checkSchema(ctx context.Context) error {
	return s.withProvider(ctx, func(p *goose.Provider) error { return s.compareVersions(ctx, p) })
}

func (s *Store) compareVersions(ctx context.Context, p *goose.Provider) error {
	current, known, err := p.GetVersions(ctx)
	if err != nil {
		return fmt.Errorf("reading the %s schema version: %w", s.d.Name(), s.d.mapErr(err))
	}
	if current > known {
		return fmt.Errorf("%w: the database is at schema version %d but this gatehouse knows only up to %d; upgrade gatehouse",
			ErrSchemaTooNew, current, known)
	}
	return nil
}

// withProvider runs fn with a goose provider on the read-write pool, under
// the dialect's migration lock.
func (s *Store) withProvider(ctx context.Context, fn func(*goose.Provider) error) (err error) {
	fsys, err := migrations.FS(s.d.Name())
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(s.d.goose(), s.db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		return fmt.Errorf("loading %s migrations: %w", s.d.Name(), err)
	}
	if s.d == dialectSQLite {
		return fn(p)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.connectError(ctx, err)
	}
	defer conn.Close()
	unlock, err := s.d.lockMigrations(ctx, conn)
	if err != nil {
		return fmt.Errorf("taking the migration lock: %w", s.d.mapErr(err))
	}
	defer func() {
		if uerr := unlock(context.WithoutCancel(ctx)); uerr != nil && err == nil {
			err = fmt.Errorf("releasing the migration lock: %w", s.d.mapErr(uerr))
		}
	}()
	return fn(p)
}
