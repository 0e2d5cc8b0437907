// Command browser is the README runner's stand-in for a person at a
// browser: started as $BROWSER by gatehouse token with the authorization
// address, it signs in as the demo user (GATEHOUSE_DEMO_PASSWORD), allows
// the consent page and follows the redirect to the loopback callback.
// It trusts the local CA of ./gatehouse-data, as the reader's browser
// would once they trusted it.
package main
