// Package gitops drives OrderFlow with Flux itself: its own local stack
// (hack/dev.sh under .gitops/, with DEV_GITOPS=1: Flux's source-controller
// and kustomize-controller and a git server on loopback), Orders committed
// to repositories that Kustomizations apply, and each scenario checked on
// the Orders, in PostgreSQL, at the payment provider and in the
// Kustomization's own status. Its tests carry the gitops build tag: `make
// test-gitops`.
package gitops
