// Package gatehouseproc builds and runs gatehouse processes from outside,
// the way an operator would: it builds the binary (Build, Builder), runs
// admin commands (Admin), starts serve processes and waits until they are
// ready (Start, WaitReady), stops them (Process), reads their memory (RSS)
// and logs (Tail), and prepares their files and database (FreeAddr,
// MustFreeAddr, WriteResources, InsertTokenRows).
//
// It is shared by the load tool (internal/loadtest) and the tests that run
// gatehouse processes (test/cluster, test/reliability, the examples). It is
// also the one home of FreeAddr, the free loopback port every test that
// starts a listener by address uses. The roles are reached over HTTP only:
// it imports none of them.
package gatehouseproc
