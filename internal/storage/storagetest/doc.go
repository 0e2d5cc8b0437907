// Package storagetest gives tests fresh, empty databases on every backend
// Gatehouse supports: a SQLite file in the test's temporary directory, and a
// new database on the local PostgreSQL and MariaDB/MySQL servers, dropped when
// the test ends.
//
// PostgreSQL and MySQL are found at GATEHOUSE_TEST_POSTGRES and
// GATEHOUSE_TEST_MYSQL (DSNs of a server database the tests may create
// databases from), defaulting to the usual local ports. A test that needs one
// that does not answer is skipped with a message saying so, unless
// GATEHOUSE_REQUIRE_DBS=1 is set (as .ci/run does), in which case it fails.
package storagetest
