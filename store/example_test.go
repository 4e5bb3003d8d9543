package store_test

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/heimdall/edged/store"
)

// A fix is committed with its outbox entry, read back by the uplink, and acknowledged
// once the broker has it. Committing the same ID again (a restarted replay) changes
// nothing.
func ExampleDB_Commit() {
	dir, _ := os.MkdirTemp("", "edged")
	defer os.RemoveAll(dir)
	db, err := store.Open(filepath.Join(dir, "edged.db"), store.Options{}, nil)
	if err != nil {
		panic(err)
	}
	defer db.Close()

	f := store.Fix{ID: "rx1:250000", Receiver: "rx1", Time: time.Unix(1764226800, 0), Body: []byte(`{"type":"Feature"}`)}
	got, _ := db.Commit(f)
	again, _ := db.Commit(f)
	fmt.Println("seq", got[0].Seq, "again", again[0].Seq)

	waiting, _ := db.OutboxPeek(10)
	fmt.Println("waiting", len(waiting), waiting[0].ID)
	_ = db.OutboxAck(waiting[0].Seq)
	n, _ := db.OutboxLen()
	fmt.Println("after ack", n)
	// Output:
	// seq 1 again 1
	// waiting 1 rx1:250000
	// after ack 0
}
