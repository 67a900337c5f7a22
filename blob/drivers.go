package blob

// Object-storage drivers, linked in so that s3:// and gs:// artifact roots
// work in the one static binary. Opening such a bucket needs credentials
// from the environment; nothing here touches the network until then.
import (
	_ "gocloud.dev/blob/gcsblob" // registers gs://
	_ "gocloud.dev/blob/s3blob"  // registers s3://
)
