package bolt_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/kubepki/kubepki/internal/storage"
	"github.com/kubepki/kubepki/internal/storage/bolt"
)

func Example() {
	dir, err := os.MkdirTemp("", "kubepki-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()

	s, err := bolt.Open(filepath.Join(dir, "kubepki.db"), bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	w, err := s.Watch(ctx, "/certificatesigningrequests/", 0)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Stop()

	rev, err := s.Create(ctx, "/certificatesigningrequests/jane", []byte("pending"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Update(ctx, "/certificatesigningrequests/jane", rev, []byte("approved")); err != nil {
		log.Fatal(err)
	}
	// A stale revision is refused.
	_, err = s.Update(ctx, "/certificatesigningrequests/jane", rev, []byte("denied"))
	fmt.Println("stale update refused:", errors.Is(err, storage.ErrConflict))

	for range 2 {
		ev := <-w.Events()
		fmt.Println(ev.Type == storage.EventCreated, ev.KV.Revision, string(ev.KV.Value))
	}
	// Output:
	// stale update refused: true
	// true 1 pending
	// false 2 approved
}
