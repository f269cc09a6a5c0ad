// Package e2e drives the local stack (hack/dev.sh) the way a user does, with
// bin/kubectl at a shell. Its tests carry the e2e build tag: `make e2e`.
package e2e
