package helpdesk

import (
	"slices"
	"testing"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/pgtest"
	"github.com/kfgate/kfgate/internal/redistest"
)

// Both stores behave alike: canned replies with shortcuts unique per scope,
// notes by session and by user, labels; a note is also an event.
func TestStores(t *testing.T) {
	rdb, prefix := redistest.New(t)
	pool, _ := pgtest.Migrated(t)
	for name, store := range map[string]Store{"redis": NewRedis(rdb, prefix+"r:", time.Hour), "postgres": NewPostgres(pool)} {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := New(store, rdb, prefix+name+":")
			g, err := s.CreateCanned(ctx, Canned{Shortcut: "hi", Title: "问候", Content: "您好"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.CreateCanned(ctx, Canned{Shortcut: "hi", Content: "again"}); kf.KindOf(err) != kf.KindConflict {
				t.Errorf("same shortcut, same scope: %v, want conflict", err)
			}
			a, err := s.CreateCanned(ctx, Canned{Account: "wx1", Shortcut: "hi", Content: "您好，这里是一号店"})
			if err != nil {
				t.Fatalf("same shortcut, another scope: %v", err)
			}
			if _, err := s.CreateCanned(ctx, Canned{Account: "wx2", Shortcut: "bye", Content: "再见"}); err != nil {
				t.Fatal(err)
			}
			for _, bad := range []Canned{{Shortcut: "", Content: "x"}, {Shortcut: "a b", Content: "x"}, {Shortcut: "x", Content: " "}} {
				if _, err := s.CreateCanned(ctx, bad); kf.KindOf(err) != kf.KindInvalid {
					t.Errorf("%+v: %v, want invalid", bad, err)
				}
			}
			list, _ := s.Canned(ctx, "wx1")
			if len(list) != 2 || list[0].ID != g.ID || list[1].ID != a.ID {
				t.Errorf("wx1's canned = %+v", list)
			}
			if all, _ := s.Canned(ctx, ""); len(all) != 3 {
				t.Errorf("all canned = %d", len(all))
			}
			if _, err := s.UpdateCanned(ctx, a.ID, Canned{Account: "wx1", Shortcut: "hello", Content: "新内容"}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.UpdateCanned(ctx, "nope", Canned{Shortcut: "x", Content: "y"}); kf.KindOf(err) != kf.KindNotFound {
				t.Errorf("update unknown: %v", err)
			}
			if err := s.DeleteCanned(ctx, g.ID); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteCanned(ctx, g.ID); kf.KindOf(err) != kf.KindNotFound {
				t.Errorf("delete twice: %v", err)
			}

			sess := kf.Session{ID: "s1", Account: "wx1", OpenID: "o1", State: kf.StateServing, Agent: "alice"}
			for _, text := range []string{"第一条", "第二条"} {
				if _, err := s.AddNote(ctx, sess, "alice", text); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := s.AddNote(ctx, kf.Session{ID: "s2", Account: "wx1", OpenID: "o1"}, "admin", "下一次会话"); err != nil {
				t.Fatal(err)
			}
			if _, err := s.AddNote(ctx, sess, "alice", " "); kf.KindOf(err) != kf.KindInvalid {
				t.Errorf("empty note: %v", err)
			}
			notes, _ := s.Notes(ctx, "s1")
			if len(notes) != 2 || notes[0].Text != "第一条" || notes[1].Author != "alice" {
				t.Errorf("notes of s1 = %+v", notes)
			}
			user, _ := s.UserNotes(ctx, "wx1", "o1")
			if len(user) != 3 || user[0].Text != "下一次会话" {
				t.Errorf("notes of the user = %+v", user)
			}
			if n := rdb.XLen(ctx, prefix+name+":events").Val(); n != 3 {
				t.Errorf("%d note.added events, want 3", n)
			}

			if got, _ := s.Labels(ctx, "s1"); len(got) != 0 {
				t.Errorf("labels before = %v", got)
			}
			got, err := s.SetLabels(ctx, sess, []string{"退款", " vip ", "退款"})
			if err != nil || !slices.Equal(got, []string{"vip", "退款"}) {
				t.Errorf("SetLabels = %v %v", got, err)
			}
			if got, _ := s.Labels(ctx, "s1"); !slices.Equal(got, []string{"vip", "退款"}) {
				t.Errorf("Labels = %v", got)
			}
			if _, err := s.SetLabels(ctx, sess, []string{"a,b"}); kf.KindOf(err) != kf.KindInvalid {
				t.Errorf("a label with a comma: %v", err)
			}
		})
	}
}
