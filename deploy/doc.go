// Package deploy holds the delivery files' checks: its tests parse every
// YAML file under deploy/ and .github/ (and docker-compose.yaml) and check
// that the Kubernetes manifests, the workflows and the compose file agree
// with what the binary serves and reads. The manifests themselves live in
// deploy/kubernetes; there is no Go API here.
package deploy
