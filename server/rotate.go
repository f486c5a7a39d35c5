package server

import "context"

// RewrapMasterKey re-wraps every key the deployment keeps under the master
// key for the master keyring's current identity, and records the rotation
// in the audit trail: deployment.Deployment.RewrapMasterKey, which says
// what a rotation is.
func (s *Server) RewrapMasterKey(ctx context.Context) (int, error) {
	return s.deployment.RewrapMasterKey(ctx)
}
