package blob

import (
	"net/url"
	"os"

	"github.com/housing-mlops/mlops"
	"github.com/housing-mlops/mlops/blob/gcs"
	"github.com/housing-mlops/mlops/blob/s3"
)

// openBackend opens the backend of a store URL. Object stores read their
// settings and credentials from the environment here; none sends a
// request before the first read or write.
func openBackend(u *url.URL) (backend, error) {
	switch u.Scheme {
	case "file":
		return openFile(u.Path)
	case "mem":
		return newMem(), nil
	case "s3":
		return s3.Open(u, os.Getenv, nil)
	case "gs":
		return gcs.Open(u, os.Getenv, nil)
	}
	return nil, mlops.Errorf(mlops.EINVALID, "unsupported URL scheme %q (want file, mem, s3 or gs)", u.Scheme)
}
