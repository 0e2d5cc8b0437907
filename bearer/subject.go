package bearer

import "strings"

// ClientSubjectPrefix begins the subject ("sub") of every token a client
// obtained for itself from Gatehouse with the client credentials grant
// (this is Gatehouse's convention; other issuers name clients their own
// way, and for their tokens IsClient means nothing): "client:" and the
// client's ID. People's subjects never contain a colon, so a client's
// subject can never equal a person's whatever ID the client was registered
// under, and a resource server that keys data by subject keeps a client's
// documents apart from every person's (RFC 9700 §4.15; RFC 9068 §2.2 lets
// the subject of such a token be any identifier of the client).
const ClientSubjectPrefix = "client:"

// ClientSubject is the subject of the tokens the client clientID obtains
// for itself.
func ClientSubject(clientID string) string { return ClientSubjectPrefix + clientID }

// IsClient reports whether Gatehouse issued the token to a client for
// itself (the client credentials grant) rather than on behalf of a person.
func (c *Claims) IsClient() bool {
	return strings.HasPrefix(c.Subject, ClientSubjectPrefix)
}
