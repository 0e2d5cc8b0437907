package bearer

import "fmt"

// confirmation returns the thumbprint of the DPoP key a token is bound to,
// from its "cnf" claim (RFC 7800 §3.1, RFC 9449 §6): "" when claims have no
// cnf. A cnf that is not an object holding a jkt string alone — null, or a
// confirmation method this package cannot check, such as a certificate's
// (RFC 8705) — is an error wrapping ErrInvalidToken, so that a token bound
// in a way no proof here can show is never accepted as a bearer token.
func confirmation(claims map[string]any) (string, error) {
	v, ok := claims["cnf"]
	if !ok {
		return "", nil
	}
	cnf, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("%w: cnf is not an object", ErrInvalidToken)
	}
	jkt, _ := cnf["jkt"].(string)
	if jkt == "" {
		return "", fmt.Errorf("%w: cnf has no jkt (a confirmation method this resource cannot check)", ErrInvalidToken)
	}
	if len(cnf) != 1 {
		return "", fmt.Errorf("%w: cnf holds a confirmation method besides jkt", ErrInvalidToken)
	}
	return jkt, nil
}
