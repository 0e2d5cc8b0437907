package resource

// State are a resource's Eve settings that keep the states of its
// documents: soft_delete and versioning.
type State struct {
	// SoftDelete is Eve's soft_delete (default: the top-level
	// soft_delete, false): a DELETE marks the document _deleted instead of
	// removing it; lists and item GETs hide it, ?show_deleted lists it.
	SoftDelete bool
	// Versioning is Eve's versioning: every write keeps a copy of the
	// document, read with ?version=N, all or diffs.
	Versioning bool
}

// applyState sets r's State from its settings and the top-level default.
func (r *Resource) applyState(fr fileResource, wire Wire) {
	r.SoftDelete = wire.SoftDelete
	if fr.SoftDelete != nil {
		r.SoftDelete = *fr.SoftDelete
	}
	r.Versioning = fr.Versioning
}
