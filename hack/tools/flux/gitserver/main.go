// Command gitserver serves git repositories over smart HTTP on loopback, for
// Flux's source-controller in the GitOps tier and `make gitops`: the bare
// repositories under -root, created on first push, cloned from and pushed
// to at http://127.0.0.1:<port>/<name>.git. It runs git's own
// upload-pack and receive-pack (through Flux's gitkit).
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/fluxcd/gitkit"
)

func main() {
	root := flag.String("root", "", "directory holding the bare repositories")
	port := flag.Int("port", 0, "port on 127.0.0.1 to listen on")
	flag.Parse()
	if *root == "" || *port == 0 {
		fmt.Fprintln(os.Stderr, "gitserver: -root and -port are required")
		os.Exit(2)
	}
	service := gitkit.New(gitkit.Config{Dir: *root, AutoCreate: true})
	if err := service.Setup(); err != nil {
		fmt.Fprintln(os.Stderr, "gitserver:", err)
		os.Exit(1)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", *port)
	fmt.Printf("gitserver: serving %s on http://%s\n", *root, addr)
	srv := &http.Server{Addr: addr, Handler: service, ReadHeaderTimeout: 10 * time.Second}
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "gitserver:", err)
		os.Exit(1)
	}
}
