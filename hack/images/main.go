// Command images writes container images without Docker or a registry, for
// the local cluster (hack/cluster.sh): each image is an empty base plus
// layers made from local files, and its config (user, entrypoint,
// environment), written as a docker-archive tarball that
// `ctr images import` takes. Images are tagged with the names the chart's
// defaults use, so the chart installs unchanged.
//
//	go run ./hack/images -out images.tar -spec images.json
//
// The spec lists the images: a name, the files and directory trees to put
// where (mode and symlinks included), an optional root filesystem tarball (the PostgreSQL
// image's Debian root), and the config.
package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Spec is one image.
type Spec struct {
	Name string `json:"name"`
	// Rootfs is a tarball laid down first (a Debian root), if any.
	Rootfs string `json:"rootfs,omitempty"`
	// Files are copied into one layer: image path -> host path.
	Files map[string]string `json:"files,omitempty"`
	// Trees are host directories copied whole: image path -> host path.
	Trees map[string]string `json:"trees,omitempty"`
	// Executables are the image paths among Files that get mode 0755.
	Executables []string `json:"executables,omitempty"`
	// Symlinks: image path -> target.
	Symlinks map[string]string `json:"symlinks,omitempty"`
	// Dirs are empty directories to create, world-writable ones with mode 1777.
	Dirs       []string `json:"dirs,omitempty"`
	Entrypoint []string `json:"entrypoint,omitempty"`
	Cmd        []string `json:"cmd,omitempty"`
	Env        []string `json:"env,omitempty"`
	User       string   `json:"user,omitempty"`
	WorkingDir string   `json:"workingDir,omitempty"`
}

func main() {
	out := flag.String("out", "images.tar", "docker-archive tarball to write")
	specFile := flag.String("spec", "", "JSON list of images")
	flag.Parse()
	if err := run(*specFile, *out); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(specFile, out string) error {
	raw, err := os.ReadFile(specFile)
	if err != nil {
		return err
	}
	var specs []Spec
	if err := json.Unmarshal(raw, &specs); err != nil {
		return fmt.Errorf("%s: %w", specFile, err)
	}
	images := map[name.Reference]v1.Image{}
	for _, s := range specs {
		ref, err := name.NewTag(s.Name)
		if err != nil {
			return fmt.Errorf("image name %q: %w", s.Name, err)
		}
		img, err := build(s)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		images[ref] = img
	}
	return tarball.MultiRefWriteToFile(out, images)
}

func build(s Spec) (v1.Image, error) {
	var layers []v1.Layer
	if s.Rootfs != "" {
		l, err := tarball.LayerFromFile(s.Rootfs)
		if err != nil {
			return nil, err
		}
		layers = append(layers, l)
	}
	if err := addTrees(&s); err != nil {
		return nil, err
	}
	files, err := filesLayer(s)
	if err != nil {
		return nil, err
	}
	layers = append(layers, files)
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config.Entrypoint, cf.Config.Cmd, cf.Config.User, cf.Config.WorkingDir = s.Entrypoint, s.Cmd, s.User, s.WorkingDir
	cf.Config.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, s.Env...)
	return mutate.ConfigFile(img, cf)
}

// addTrees adds the files of the spec's trees to its Files.
func addTrees(s *Spec) error {
	for dst, src := range s.Trees {
		err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			rel, err := filepath.Rel(src, p)
			if err != nil {
				return err
			}
			if s.Files == nil {
				s.Files = map[string]string{}
			}
			s.Files[path.Join(dst, filepath.ToSlash(rel))] = p
			return nil
		})
		if err != nil {
			return fmt.Errorf("tree %s: %w", src, err)
		}
	}
	return nil
}

// filesLayer writes the spec's files, symlinks and directories as one layer,
// parent directories first, with fixed times so a rebuild is identical.
func filesLayer(s Spec) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	made := map[string]bool{}
	var mkdirs func(dir string, mode int64) error
	mkdirs = func(dir string, mode int64) error {
		if dir == "/" || dir == "." || made[dir] {
			return nil
		}
		if err := mkdirs(path.Dir(dir), 0o755); err != nil {
			return err
		}
		made[dir] = true
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir[1:] + "/", Mode: mode, ModTime: epoch})
	}
	exec := map[string]bool{}
	for _, e := range s.Executables {
		exec[e] = true
	}
	for _, d := range sortedKeys(s.Dirs) {
		if err := mkdirs(d, 0o1777); err != nil {
			return nil, err
		}
	}
	for _, dst := range sortedMapKeys(s.Files) {
		b, err := os.ReadFile(s.Files[dst])
		if err != nil {
			return nil, err
		}
		if err := mkdirs(path.Dir(dst), 0o755); err != nil {
			return nil, err
		}
		mode := int64(0o644)
		if exec[dst] {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: dst[1:], Mode: mode, Size: int64(len(b)), ModTime: epoch}); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	for _, link := range sortedMapKeys(s.Symlinks) {
		if err := mkdirs(path.Dir(link), 0o755); err != nil {
			return nil, err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: link[1:], Linkname: s.Symlinks[link], Mode: 0o777, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	data := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
}

func sortedMapKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}
