package docstore

// ElemKey is elemKey, for tests that write side-table rows themselves.
var ElemKey = elemKey
