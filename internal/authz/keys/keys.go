package keys

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/gatehouse-dev/gatehouse/internal/secret"
	"github.com/gatehouse-dev/gatehouse/internal/storage"
)

// ErrNoKey is returned when no key of an algorithm may sign at a given time.
var ErrNoKey = errors.New("keys: no signing key")

// RSABits is the size of generated RSA keys.
const RSABits = 2048

// Store is the part of the storage the keys need.
type Store interface {
	CreateKey(ctx context.Context, k storage.SigningKey) error
	CreateKeyIfNoSigner(ctx context.Context, k storage.SigningKey, now time.Time) (bool, error)
	ListKeys(ctx context.Context) ([]storage.SigningKey, error)
	SetKeyExpiry(ctx context.Context, id string, expiresAt time.Time) error
	DeleteExpiredKeys(ctx context.Context, before time.Time) (int, error)
}

// Key is a decrypted signing key.
type Key struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	Private   crypto.Signer
	Public    jose.JSONWebKey
	CreatedAt time.Time
	NotBefore time.Time
	ExpiresAt time.Time // zero: no end set
}

// Published reports whether the key belongs in the JWKS at now.
func (k Key) Published(now time.Time) bool {
	return k.ExpiresAt.IsZero() || now.Before(k.ExpiresAt)
}

// CanSign reports whether the key may sign at now.
func (k Key) CanSign(now time.Time) bool {
	return !now.Before(k.NotBefore) && k.Published(now)
}

// Generate makes a new key for alg and its sealed storage record.
func Generate(alg jose.SignatureAlgorithm, sealer *secret.Key, now, notBefore time.Time) (Key, storage.SigningKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case jose.RS256:
		priv, err = rsa.GenerateKey(rand.Reader, RSABits)
	case jose.ES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case jose.EdDSA:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	default:
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: unsupported algorithm %q", alg)
	}
	if err != nil {
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: generating %s key: %w", alg, err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	// The kid is the key's RFC 7638 thumbprint: unique and derived, not chosen.
	tp, err := pub.Thumbprint(crypto.SHA256)
	if err != nil {
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: thumbprint: %w", err)
	}
	pub.KeyID = base64.RawURLEncoding.EncodeToString(tp)
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: encoding public key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: encoding private key: %w", err)
	}
	// The kid is the additional data, so a sealed key cannot be moved to
	// another row.
	sealed, err := sealer.Seal(der, []byte(pub.KeyID))
	if err != nil {
		return Key{}, storage.SigningKey{}, fmt.Errorf("keys: sealing private key: %w", err)
	}
	now, notBefore = now.UTC(), notBefore.UTC()
	k := Key{ID: pub.KeyID, Algorithm: alg, Private: priv, Public: pub, CreatedAt: now, NotBefore: notBefore}
	rec := storage.SigningKey{
		ID: pub.KeyID, Algorithm: string(alg), PrivateKey: sealed, PublicKey: pubJSON,
		CreatedAt: now, NotBefore: notBefore,
	}
	return k, rec, nil
}

// Decode opens a stored key with the server secret.
func Decode(rec storage.SigningKey, sealer *secret.Key) (Key, error) {
	der, err := sealer.Open(rec.PrivateKey, []byte(rec.ID))
	if err != nil {
		return Key{}, fmt.Errorf("keys: opening key %s: %w", rec.ID, err)
	}
	parsed, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return Key{}, fmt.Errorf("keys: parsing key %s: %w", rec.ID, err)
	}
	priv, ok := parsed.(crypto.Signer)
	if !ok {
		return Key{}, fmt.Errorf("keys: key %s is not a signer", rec.ID)
	}
	var pub jose.JSONWebKey
	if err := pub.UnmarshalJSON(rec.PublicKey); err != nil {
		return Key{}, fmt.Errorf("keys: parsing public key %s: %w", rec.ID, err)
	}
	return Key{
		ID: rec.ID, Algorithm: jose.SignatureAlgorithm(rec.Algorithm), Private: priv, Public: pub,
		CreatedAt: rec.CreatedAt, NotBefore: rec.NotBefore, ExpiresAt: rec.ExpiresAt,
	}, nil
}

// Manager holds the decrypted keys in memory and reloads them from the store.
// It is safe for concurrent use.
type Manager struct {
	store  Store
	sealer *secret.Key

	mu   sync.RWMutex
	keys []Key // ordered by CreatedAt
}

// NewManager returns a Manager with no keys loaded; call Ensure or Reload.
func NewManager(store Store, sealer *secret.Key) *Manager {
	return &Manager{store: store, sealer: sealer}
}

// Reload reads every key from the store.
func (m *Manager) Reload(ctx context.Context) error {
	recs, err := m.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("keys: listing: %w", err)
	}
	loaded := make([]Key, 0, len(recs))
	for _, rec := range recs {
		k, err := Decode(rec, m.sealer)
		if err != nil {
			return err
		}
		loaded = append(loaded, k)
	}
	m.mu.Lock()
	m.keys = loaded
	m.mu.Unlock()
	return nil
}

// FirstKeyBackdate is how far before its creation a first key may sign.
// Instances starting together on an empty database agree on one first key
// per algorithm; one whose clock is behind the creator's (or that read it
// before generating its own key, which takes a while for RSA) must be able
// to sign with it at once.
const FirstKeyBackdate = 5 * time.Minute

// Ensure loads the keys and creates one for every algorithm in algs that has
// no key able to sign now. A first key signs at once: nothing was signed
// before it, so no verifier can hold a stale key set. When several
// instances call Ensure at once, the store keeps the first key one of them
// creates and every instance signs with that one.
func (m *Manager) Ensure(ctx context.Context, now time.Time, algs ...jose.SignatureAlgorithm) error {
	if err := m.Reload(ctx); err != nil {
		return err
	}
	changed := false
	for _, alg := range algs {
		if _, err := m.Signer(alg, now); err == nil {
			continue
		}
		_, rec, err := Generate(alg, m.sealer, now, now.Add(-FirstKeyBackdate))
		if err != nil {
			return err
		}
		// Stored only if no other instance stored one meanwhile; either
		// way the reload below picks up the key that signs.
		if _, err := m.store.CreateKeyIfNoSigner(ctx, rec, now); err != nil {
			return fmt.Errorf("keys: storing new %s key: %w", alg, err)
		}
		changed = true
	}
	if !changed {
		return nil
	}
	if err := m.Reload(ctx); err != nil {
		return err
	}
	for _, alg := range algs {
		if _, err := m.Signer(alg, now); err != nil {
			return err
		}
	}
	return nil
}

// Signer returns the key that signs for alg at now: the newest one whose
// NotBefore has passed.
func (m *Manager) Signer(alg jose.SignatureAlgorithm, now time.Time) (Key, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	best, found := signer(m.keys, alg, now)
	if !found {
		return Key{}, fmt.Errorf("%w for %s", ErrNoKey, alg)
	}
	return best, nil
}

// signer picks the key that signs for alg at now among keys.
func signer(keys []Key, alg jose.SignatureAlgorithm, now time.Time) (Key, bool) {
	return newest(keys, alg, func(k Key) bool { return k.CanSign(now) })
}

// successor picks the key of alg, among those published at now, that signs
// last: the current signer, or the key that takes over from it.
func successor(keys []Key, alg jose.SignatureAlgorithm, now time.Time) (Key, bool) {
	return newest(keys, alg, func(k Key) bool { return k.Published(now) })
}

// newest returns the key of alg that ok accepts with the latest NotBefore
// (then the latest CreatedAt): the one that signs once its NotBefore passes.
func newest(keys []Key, alg jose.SignatureAlgorithm, ok func(Key) bool) (Key, bool) {
	var best Key
	found := false
	for _, k := range keys {
		if k.Algorithm != alg || !ok(k) {
			continue
		}
		if !found || k.NotBefore.After(best.NotBefore) || k.NotBefore.Equal(best.NotBefore) && k.CreatedAt.After(best.CreatedAt) {
			best, found = k, true
		}
	}
	return best, found
}

// Published returns every key that belongs in the JWKS at now, including keys
// that do not sign yet (RFC 7517 key sets; verifiers fetch before they see a
// token signed with a new key).
func (m *Manager) Published(now time.Time) []Key {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make([]Key, 0, len(m.keys))
	for _, k := range m.keys {
		if k.Published(now) {
			out = append(out, k)
		}
	}
	return out
}

// JWKS returns the public key set at now.
func (m *Manager) JWKS(now time.Time) jose.JSONWebKeySet {
	var set jose.JSONWebKeySet
	for _, k := range m.Published(now) {
		set.Keys = append(set.Keys, k.Public)
	}
	return set
}

// Lookup finds a published key by kid.
func (m *Manager) Lookup(kid string, now time.Time) (Key, bool) {
	for _, k := range m.Published(now) {
		if k.ID == kid {
			return k, true
		}
	}
	return Key{}, false
}

// RotateOptions says how a rotation times its keys.
type RotateOptions struct {
	// Lead is how long a new key is published before it signs: longer than
	// the interval at which instances reload keys and verifiers refresh JWKS.
	Lead time.Duration
	// MaxTokenLifetime is the longest lifetime of a token signed with a key;
	// an old key stays published this long after it stopped signing.
	MaxTokenLifetime time.Duration
}

// Rotate creates a new key for every algorithm in algs, signing from
// now+Lead, and schedules the current keys of those algorithms to leave the
// published set once every token they can still sign has expired. It returns
// the new kids.
func Rotate(ctx context.Context, store Store, sealer *secret.Key, now time.Time, opts RotateOptions, algs ...jose.SignatureAlgorithm) ([]string, error) {
	now = now.UTC()
	fresh, err := generateAll(sealer, now, opts, algs)
	if err != nil {
		return nil, err
	}
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing: %w", err)
	}
	return install(ctx, store, recs, fresh, now, opts)
}

// RotateIfDue rotates like Rotate when the newest key of algs is at least
// period old, and otherwise does nothing. Several instances may call it at
// once: each re-reads the keys just before creating its own and gives up
// if another rotated meanwhile; should two still both rotate, every caller
// then keeps only the earliest new key of each algorithm and withdraws the
// others at once (they were never used: they sign only from now+Lead). So
// each period adds one key per algorithm. It returns the new kids, if any.
func RotateIfDue(ctx context.Context, store Store, sealer *secret.Key, now time.Time, period time.Duration, opts RotateOptions, algs ...jose.SignatureAlgorithm) ([]string, error) {
	now = now.UTC()
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing: %w", err)
	}
	newest := newestCreated(recs, algs)
	if newest.IsZero() || now.Sub(newest) < period {
		return nil, nil
	}
	// Generating (RSA takes a while) happens before the re-read, so the
	// window between the re-read and the inserts stays small.
	fresh, err := generateAll(sealer, now, opts, algs)
	if err != nil {
		return nil, err
	}
	if recs, err = store.ListKeys(ctx); err != nil {
		return nil, fmt.Errorf("keys: listing: %w", err)
	}
	if !newestCreated(recs, algs).Equal(newest) {
		return nil, nil // another instance rotated
	}
	kids, err := install(ctx, store, recs, fresh, now, opts)
	if err != nil {
		return kids, err
	}
	// Settle a rotation that raced with ours.
	if recs, err = store.ListKeys(ctx); err != nil {
		return kids, fmt.Errorf("keys: listing: %w", err)
	}
	var kept []string
	for _, alg := range algs {
		var cands []storage.SigningKey
		for _, r := range recs {
			if r.Algorithm == string(alg) && r.CreatedAt.After(newest) && (r.ExpiresAt.IsZero() || r.ExpiresAt.After(now)) {
				cands = append(cands, r)
			}
		}
		slices.SortFunc(cands, func(a, b storage.SigningKey) int {
			if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
				return c
			}
			return strings.Compare(a.ID, b.ID)
		})
		for i, c := range cands {
			if i == 0 {
				if slices.Contains(kids, c.ID) {
					kept = append(kept, c.ID)
				}
				continue
			}
			if err := store.SetKeyExpiry(ctx, c.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
				return kept, fmt.Errorf("keys: withdrawing duplicate %s: %w", c.ID, err)
			}
		}
	}
	return kept, nil
}

type generated struct {
	alg jose.SignatureAlgorithm
	rec storage.SigningKey
}

func generateAll(sealer *secret.Key, now time.Time, opts RotateOptions, algs []jose.SignatureAlgorithm) ([]generated, error) {
	out := make([]generated, 0, len(algs))
	for _, alg := range algs {
		_, rec, err := Generate(alg, sealer, now, now.Add(opts.Lead))
		if err != nil {
			return nil, err
		}
		out = append(out, generated{alg, rec})
	}
	return out, nil
}

// install stores the new keys and retires the keys in recs of the same
// algorithms.
func install(ctx context.Context, store Store, recs []storage.SigningKey, fresh []generated, now time.Time, opts RotateOptions) ([]string, error) {
	retire := now.Add(opts.Lead).Add(opts.MaxTokenLifetime)
	var kids []string
	for _, g := range fresh {
		if err := store.CreateKey(ctx, g.rec); err != nil {
			return kids, fmt.Errorf("keys: storing new %s key: %w", g.alg, err)
		}
		kids = append(kids, g.rec.ID)
		for _, old := range recs {
			if old.Algorithm != string(g.alg) {
				continue
			}
			// An old key keeps signing until the new one takes over, so
			// it stays published until the tokens it signs last expire.
			if old.ExpiresAt.IsZero() || old.ExpiresAt.After(retire) {
				if err := store.SetKeyExpiry(ctx, old.ID, retire); err != nil && !errors.Is(err, storage.ErrNotFound) {
					return kids, fmt.Errorf("keys: retiring %s: %w", old.ID, err)
				}
			}
		}
	}
	return kids, nil
}

// newestCreated is the creation time of the newest key of algs in recs.
func newestCreated(recs []storage.SigningKey, algs []jose.SignatureAlgorithm) time.Time {
	var t time.Time
	for _, r := range recs {
		if slices.Contains(algs, jose.SignatureAlgorithm(r.Algorithm)) && r.CreatedAt.After(t) {
			t = r.CreatedAt
		}
	}
	return t
}

// SigningAlgorithms lists the algorithms of the published keys.
func (m *Manager) SigningAlgorithms(now time.Time) []jose.SignatureAlgorithm {
	var algs []jose.SignatureAlgorithm
	for _, k := range m.Published(now) {
		if !slices.Contains(algs, k.Algorithm) {
			algs = append(algs, k.Algorithm)
		}
	}
	return algs
}

// Retire withdraws the key kid at once, for a key that must no longer be
// trusted (its private half leaked): its expiry becomes now, so it leaves
// the published set (Published, JWKS, Lookup) and signs no more. Running
// servers see it gone when they next reload their keys, and JWT verifiers
// when they next refetch the JWKS; tokens it signed are refused from then
// on.
//
// When kid is the key that signs for its algorithm, or the one due to take
// over from it after a rotation, Retire first stores a replacement of the
// same algorithm, published at once, and returns its kid; otherwise it
// returns "". A replacement of the signing key signs at once (NotBefore =
// now: a compromise cannot wait the usual publication lead, so verifiers
// holding an older key set meet an unknown kid and refetch it); one of a
// key due to take over signs when that key would have, and the current
// signer, whose expiry was set for that handover, signs until then. The
// replacement is sealed with sealer, which must open the stored keys.
// Retiring a key that has already left the published set changes nothing.
// An unknown kid gives an error wrapping storage.ErrNotFound.
func Retire(ctx context.Context, store Store, sealer *secret.Key, kid string, now time.Time) (replacement string, err error) {
	now = now.UTC()
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return "", fmt.Errorf("keys: listing: %w", err)
	}
	metas := describe(recs)
	i := slices.IndexFunc(metas, func(k Key) bool { return k.ID == kid })
	if i < 0 {
		return "", fmt.Errorf("keys: retiring %s: %w", kid, storage.ErrNotFound)
	}
	old := metas[i]
	if !old.Published(now) {
		return "", nil
	}
	cur, _ := signer(metas, old.Algorithm, now)
	next, _ := successor(metas, old.Algorithm, now)
	if cur.ID == kid || next.ID == kid {
		// Servers must be able to open the replacement: it is sealed with
		// the secret that opens the key it replaces.
		if _, err := Decode(recs[i], sealer); err != nil {
			return "", fmt.Errorf("keys: retiring %s: the server secret given does not open the stored keys: %w", kid, err)
		}
		_, rec, err := Generate(old.Algorithm, sealer, now, later(now, old.NotBefore))
		if err != nil {
			return "", err
		}
		// Stored before the old key is withdrawn, so that a failure
		// leaves either both keys or the old one, never no signer; a
		// retry then finds the replacement signing and adds no other.
		if err := store.CreateKey(ctx, rec); err != nil {
			return "", fmt.Errorf("keys: storing the replacement of %s: %w", kid, err)
		}
		replacement = rec.ID
	}
	if err := store.SetKeyExpiry(ctx, kid, now); err != nil {
		return replacement, fmt.Errorf("keys: retiring %s: %w", kid, err)
	}
	return replacement, nil
}

// KeyState says what a stored key is used for at a given time.
type KeyState string

// The states of a stored key.
const (
	StateSigning   KeyState = "signing"   // signs new tokens
	StateNext      KeyState = "next"      // published; signs from its NotBefore
	StatePublished KeyState = "published" // published so that tokens it signed verify; signs no more
	StateExpired   KeyState = "expired"   // out of the published set; deleted by the janitor
)

// Info describes a stored key without its private half.
type Info struct {
	ID        string
	Algorithm jose.SignatureAlgorithm
	CreatedAt time.Time
	NotBefore time.Time
	ExpiresAt time.Time // zero: no end set
	State     KeyState
}

// List describes every stored key at now, oldest first. It needs no server
// secret: private keys stay sealed.
func List(ctx context.Context, store Store, now time.Time) ([]Info, error) {
	recs, err := store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: listing: %w", err)
	}
	metas := describe(recs)
	out := make([]Info, 0, len(metas))
	for _, k := range metas {
		info := Info{ID: k.ID, Algorithm: k.Algorithm, CreatedAt: k.CreatedAt, NotBefore: k.NotBefore, ExpiresAt: k.ExpiresAt}
		cur, _ := signer(metas, k.Algorithm, now)
		next, _ := successor(metas, k.Algorithm, now)
		switch {
		case !k.Published(now):
			info.State = StateExpired
		case cur.ID == k.ID:
			info.State = StateSigning
		case next.ID == k.ID:
			info.State = StateNext
		default:
			info.State = StatePublished
		}
		out = append(out, info)
	}
	return out, nil
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

// describe returns the stored keys' metadata as Keys without their key
// material, for the choices signer and successor make.
func describe(recs []storage.SigningKey) []Key {
	out := make([]Key, 0, len(recs))
	for _, r := range recs {
		out = append(out, Key{
			ID: r.ID, Algorithm: jose.SignatureAlgorithm(r.Algorithm),
			CreatedAt: r.CreatedAt, NotBefore: r.NotBefore, ExpiresAt: r.ExpiresAt,
		})
	}
	return out
}
