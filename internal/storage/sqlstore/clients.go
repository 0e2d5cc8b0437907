package sqlstore

import (
	"context"
	"database/sql"
	"time"
	"unicode/utf8"

	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

const clientColumns = "id, name, secret_hash, public, redirect_uris, post_logout_redirect_uris, grant_types, scopes, " +
	"pkce_optional, first_party, resource_audience, resource_scopes, id_token_alg, auth_method, jwks, jwks_uri, " +
	"dpop_bound, require_par, require_mfa, profile, disabled, created_at, updated_at"

func scanClient(c *storage.Client) func(scanner) error {
	return func(r scanner) error {
		return r.Scan(&c.ID, &c.Name, &c.SecretHash, &c.Public, list(&c.RedirectURIs), list(&c.PostLogoutRedirectURIs),
			list(&c.GrantTypes), list(&c.Scopes), &c.PKCEOptional, &c.FirstParty, &c.ResourceAudience, list(&c.ResourceScopes),
			&c.IDTokenAlg, &c.AuthMethod, &c.JWKS, &c.JWKSURI, &c.DPoPBound, &c.RequirePAR, &c.RequireMFA, &c.Profile, &c.Disabled,
			ts(&c.CreatedAt), ts(&c.UpdatedAt))
	}
}

// CreateClient fails with storage.ErrAlreadyExists if the ID is taken.
func (s *Store) CreateClient(ctx context.Context, c storage.Client) error {
	_, err := s.write(ctx, "INSERT INTO clients ("+clientColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.ID, c.Name, c.SecretHash, c.Public, encodeList(c.RedirectURIs), encodeList(c.PostLogoutRedirectURIs),
		encodeList(c.GrantTypes), encodeList(c.Scopes), c.PKCEOptional, c.FirstParty, c.ResourceAudience, encodeList(c.ResourceScopes),
		c.IDTokenAlg, c.AuthMethod, c.JWKS, c.JWKSURI, c.DPoPBound, c.RequirePAR, c.RequireMFA, c.Profile, c.Disabled,
		micros(c.CreatedAt), micros(c.UpdatedAt))
	return err
}

// GetClient returns the client with the given ID.
func (s *Store) GetClient(ctx context.Context, id string) (storage.Client, error) {
	var c storage.Client
	err := s.queryRow(ctx, s.rdb, scanClient(&c), "SELECT "+clientColumns+" FROM clients WHERE id = ?", id)
	if err == nil && c.ID != id { // MySQL's PAD SPACE collations ignore trailing spaces
		return storage.Client{}, storage.ErrNotFound
	}
	return c, err
}

// ListClients returns every client ordered by ID.
func (s *Store) ListClients(ctx context.Context) ([]storage.Client, error) {
	var clients []storage.Client
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		var c storage.Client
		if err := scanClient(&c)(r); err != nil {
			return err
		}
		clients = append(clients, c)
		return nil
	}, "SELECT "+clientColumns+" FROM clients ORDER BY id")
	return clients, err
}

// SetClientAuthentication sets the method, secret hash and keys together.
func (s *Store) SetClientAuthentication(ctx context.Context, id string, a storage.ClientAuthentication, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET auth_method = ?, secret_hash = ?, jwks = ?, jwks_uri = ?, updated_at = ? WHERE id = ?",
		a.AuthMethod, a.SecretHash, a.JWKS, a.JWKSURI, micros(now), id)
}

// SetClientDPoPBound sets whether the client's token requests need DPoP.
func (s *Store) SetClientDPoPBound(ctx context.Context, id string, bound bool, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET dpop_bound = ?, updated_at = ? WHERE id = ?", bound, micros(now), id)
}

// SetClientRequirePAR sets whether the client must push its authorization
// requests.
func (s *Store) SetClientRequirePAR(ctx context.Context, id string, require bool, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET require_par = ?, updated_at = ? WHERE id = ?", require, micros(now), id)
}

// SetClientRequireMFA sets whether every sign-in for the client must take
// a second factor.
func (s *Store) SetClientRequireMFA(ctx context.Context, id string, require bool, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET require_mfa = ?, updated_at = ? WHERE id = ?", require, micros(now), id)
}

// SetClientSecret replaces the secret hash.
func (s *Store) SetClientSecret(ctx context.Context, id, secretHash string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET secret_hash = ?, updated_at = ? WHERE id = ?",
		secretHash, micros(now), id)
}

// SetClientResourceAudience sets (or, with "", clears) the audience whose
// tokens the client may introspect.
func (s *Store) SetClientResourceAudience(ctx context.Context, id, audience string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET resource_audience = ?, updated_at = ? WHERE id = ?",
		audience, micros(now), id)
}

// SetClientScopes replaces the scopes the client may be granted.
func (s *Store) SetClientScopes(ctx context.Context, id string, scopes []string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET scopes = ?, updated_at = ? WHERE id = ?",
		encodeList(scopes), micros(now), id)
}

// SetClientRedirectURIs replaces the client's redirect URIs.
func (s *Store) SetClientRedirectURIs(ctx context.Context, id string, uris []string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET redirect_uris = ?, updated_at = ? WHERE id = ?",
		encodeList(uris), micros(now), id)
}

// SetClientResourceScopes replaces the scopes the client, as a resource
// server, defines.
func (s *Store) SetClientResourceScopes(ctx context.Context, id string, scopes []string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET resource_scopes = ?, updated_at = ? WHERE id = ?",
		encodeList(scopes), micros(now), id)
}

// GetResourceServer returns the oldest client whose resource audience is
// exactly audience. MySQL's PAD SPACE collation also matches audiences
// that differ in trailing spaces, so the query may return more than the
// exact match, oldest first; the first exact one is the answer. (Filtering
// here rather than comparing as binary in SQL keeps the index usable.)
// An audience that is not UTF-8 is not looked up: PostgreSQL would refuse
// it with an error where the other dialects find nothing.
func (s *Store) GetResourceServer(ctx context.Context, audience string) (storage.Client, error) {
	if audience == "" || !utf8.ValidString(audience) {
		return storage.Client{}, storage.ErrNotFound
	}
	var found *storage.Client
	err := s.queryRows(ctx, s.rdb, func(r scanner) error {
		var c storage.Client
		if err := scanClient(&c)(r); err != nil {
			return err
		}
		if found == nil && c.ResourceAudience == audience {
			found = &c
		}
		return nil
	}, "SELECT "+clientColumns+" FROM clients WHERE resource_audience = ? ORDER BY created_at, id", audience)
	switch {
	case err != nil:
		return storage.Client{}, err
	case found == nil:
		return storage.Client{}, storage.ErrNotFound
	}
	return *found, nil
}

// SetClientIDTokenAlg sets (or, with "", clears) the algorithm the
// client's ID tokens are signed with.
func (s *Store) SetClientIDTokenAlg(ctx context.Context, id, alg string, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET id_token_alg = ?, updated_at = ? WHERE id = ?",
		alg, micros(now), id)
}

// SetClientDisabled disables or enables the client.
func (s *Store) SetClientDisabled(ctx context.Context, id string, disabled bool, now time.Time) error {
	return s.writeOne(ctx, "UPDATE clients SET disabled = ?, updated_at = ? WHERE id = ?", disabled, micros(now), id)
}

// DeleteClient removes the client, and with it the consent given to it,
// marks the codes of its authorization requests used, and revokes its
// grants and their refresh tokens.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.inTx(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := s.execOne(ctx, tx, "DELETE FROM clients WHERE id = ?", id); err != nil {
			return err
		}
		if _, err := s.exec(ctx, tx, "DELETE FROM consents WHERE client_id = ?", id); err != nil {
			return err
		}
		_, err := s.revokeGrantsIn(ctx, tx, clientScope(id))
		return err
	})
}
