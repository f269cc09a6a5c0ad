package cmd

import (
	"os"

	"orderflow.io/orderflow/internal/db"
	"orderflow.io/orderflow/internal/temporal"
)

func registerTemporal(f *flags, c *temporal.Config) {
	f.string(&c.HostPort, "temporal-address", "TEMPORAL_HOST_PORT", "localhost:7233", "Temporal frontend host:port")
	f.string(&c.Namespace, "temporal-namespace", "TEMPORAL_NAMESPACE", "default", "Temporal namespace of the order workflows")
	f.string(&c.TLSCertFile, "temporal-tls-cert", "TEMPORAL_TLS_CERT", "", "client certificate file for mTLS to Temporal")
	f.string(&c.TLSKeyFile, "temporal-tls-key", "TEMPORAL_TLS_KEY", "", "client key file for mTLS to Temporal")
	f.string(&c.TLSCAFile, "temporal-tls-ca", "TEMPORAL_TLS_CA", "", "CA bundle that signs Temporal's server certificate")
	f.string(&c.TLSServer, "temporal-tls-server-name", "TEMPORAL_TLS_SERVER_NAME", "", "server name to verify in Temporal's certificate")
}

// registerPostgres binds the PostgreSQL flags. The password and a full DSN
// (which may hold one) come only from the environment, never from the
// command line, where any user of the machine could read them.
func registerPostgres(f *flags, c *db.Config) {
	f.string(&c.Host, "postgres-host", "POSTGRES_HOST", "localhost", "PostgreSQL host")
	f.int(&c.Port, "postgres-port", "POSTGRES_PORT", 5432, "PostgreSQL port")
	f.string(&c.User, "postgres-user", "POSTGRES_USER", "orderflow", "PostgreSQL user (the password comes from POSTGRES_PASSWORD)")
	f.string(&c.Database, "postgres-db", "POSTGRES_DB", "orderflow", "PostgreSQL database")
	f.string(&c.SSLMode, "postgres-sslmode", "POSTGRES_SSLMODE", "prefer", "PostgreSQL sslmode (disable, prefer, require, verify-full)")
	c.Password = os.Getenv("POSTGRES_PASSWORD")
	c.DSN = os.Getenv("POSTGRES_DSN")
}
