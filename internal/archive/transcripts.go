package archive

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// Transcript import: the messages kf accounts write inside WeChat's own
// customer-service tool never pass through kfgate. The Importer reads them
// from WeChat's chat records (msgrecord/getmsglist, docs/wechat.md,
// "Customer-service API") and writes them into the archive, so that the
// transcript, search and statistics cover them too.
//
// What it imports: a record of a kf account (opercode 2002) and a user's
// record (2003), unless kfgate archived that message itself — an outbound
// message kfgate sent (with or without customservice.kf_account, the
// records hold those too) or an inbound one it received, to the same
// user, with the same text, at about the same time. Each goes to the
// archived session of that user that was open at the record's time, or,
// when there is none, to an "imported" session: one per user and UTC day,
// closed, closed_by "wechat", close_reason "imported".
//
// Idempotent: a message's import_key is the SHA-256 of its record
// (account, openid, time, worker, opercode, text), unique in the table, so
// two runs — or two replicas that both ran — write each record once. Two
// identical records in the same second are one message.
//
// Paging: per account a cursor in transcript_cursors — the start of the
// window being read and WeChat's msgid in it. A query covers at most 24
// hours (WeChat's limit) and asks for up to 10,000 records; a page shorter
// than asked ends the window. A window that reached Lag before now stays
// the current one (its msgid kept) until a later run can close it; older
// windows are left for the next. The records of the last Lag are left for
// the next run, so that kfgate's own messages are archived (from the events
// stream) before the import compares against them.

// ChatRecords is what the import needs of WeChat.
type ChatRecords interface {
	MsgRecords(ctx context.Context, appid string, q wxapi.RecordQuery) (wxapi.RecordPage, error)
}

var _ ChatRecords = (*wxapi.Client)(nil)

// KfAgents lists the agents: those with a kf_account name the accounts
// whose transcripts are imported and the agent each kf account's messages
// are archived under.
type KfAgents interface {
	List(ctx context.Context) ([]kf.Agent, error)
}

// ImportOptions configure an Importer.
type ImportOptions struct {
	DB     *pgxpool.Pool
	Redis  redis.Cmdable
	Prefix string
	WeChat ChatRecords
	Agents KfAgents
	// Accounts are imported whether or not an agent has a kf account:
	// those whose agents all work in WeChat's own tool (agents: wechat).
	Accounts []string
	// Every is the import's period: one run per period and account for the
	// whole cluster (a lease in Redis).
	Every time.Duration
	// Backfill is how far back an account's first import starts; default 24h.
	Backfill time.Duration
	// Lag leaves the latest records for the next run; default 2m.
	Lag time.Duration
	// PageSize is the number asked of WeChat; default (and at most) 10000.
	PageSize int
	// Windows is how many 24-hour windows one run reads per account at
	// most; default 7.
	Windows int
	Now     func() time.Time
	Log     *slog.Logger
}

// Importer imports WeChat's chat records into the archive.
type Importer struct{ o ImportOptions }

// maxWindow is WeChat's longest query (docs/wechat.md, "Customer-service API").
const maxWindow = 24 * time.Hour

// NewImporter returns an Importer.
func NewImporter(o ImportOptions) *Importer {
	if o.Backfill <= 0 {
		o.Backfill = 24 * time.Hour
	}
	if o.Lag == 0 {
		o.Lag = 2 * time.Minute
	}
	if o.PageSize <= 0 || o.PageSize > 10000 {
		o.PageSize = 10000
	}
	if o.Windows <= 0 {
		o.Windows = 7
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return &Importer{o: o}
}

// Run is the scheduler's job: it imports each account where an agent has
// a kf account, and Accounts, unless another replica took that account's lease for this
// period, and returns how many messages it wrote.
func (im *Importer) Run(ctx context.Context) (int, error) {
	byAccount, err := im.kfAgents(ctx)
	if err != nil {
		return 0, err
	}
	total := 0
	var errs []error
	for _, account := range slices.Sorted(maps.Keys(byAccount)) {
		// The lease ends a little before the next period, so that a late
		// tick of this or another replica still finds it gone.
		ok, err := im.o.Redis.SetNX(ctx, im.o.Prefix+"transcripts:"+account, "1", im.o.Every*9/10).Result()
		if err != nil {
			return total, fmt.Errorf("transcripts: lease: %w", err)
		}
		if !ok {
			continue
		}
		n, err := im.importAccount(ctx, account, byAccount[account])
		total += n
		if err != nil {
			errs = append(errs, fmt.Errorf("transcripts %s: %w", account, err))
		}
	}
	return total, errors.Join(errs...)
}

// ImportAccount imports one account's records now, whatever the lease;
// it returns how many messages it wrote.
func (im *Importer) ImportAccount(ctx context.Context, account string) (int, error) {
	byAccount, err := im.kfAgents(ctx)
	if err != nil {
		return 0, err
	}
	return im.importAccount(ctx, account, byAccount[account])
}

// kfAgents maps each account to its kf accounts' agents (kf account →
// agent id).
func (im *Importer) kfAgents(ctx context.Context) (map[string]map[string]string, error) {
	all, err := im.o.Agents.List(ctx)
	if err != nil {
		return nil, fmt.Errorf("transcripts: agents: %w", err)
	}
	out := map[string]map[string]string{}
	for _, account := range im.o.Accounts {
		out[account] = map[string]string{}
	}
	for _, a := range all {
		if a.KfAccount == "" || len(a.Accounts) != 1 {
			continue
		}
		if out[a.Accounts[0]] == nil {
			out[a.Accounts[0]] = map[string]string{}
		}
		out[a.Accounts[0]][a.KfAccount] = a.ID
	}
	return out, nil
}

func (im *Importer) importAccount(ctx context.Context, account string, agentOf map[string]string) (int, error) {
	now := im.o.Now().Truncate(time.Second)
	upTo := now.Add(-im.o.Lag)
	since, msgid, err := im.cursor(ctx, account, now.Add(-im.o.Backfill))
	if err != nil {
		return 0, err
	}
	written := 0
	for range im.o.Windows {
		end := since.Add(maxWindow)
		current := !end.Before(upTo)
		if current {
			end = upTo
		}
		if end.Before(since) {
			return written, nil
		}
		for {
			page, err := im.o.WeChat.MsgRecords(ctx, account, wxapi.RecordQuery{Start: since, End: end, MsgID: msgid, Number: im.o.PageSize})
			if err != nil {
				return written, err
			}
			last := len(page.Records) < im.o.PageSize
			next := max(page.NextMsgID, msgid)
			if !last && next == msgid {
				return written, fmt.Errorf("getmsglist: a full page without a new msgid (%d)", msgid)
			}
			nextSince := since
			if last && !current {
				// The window is read: the next one starts after it.
				nextSince, next = end.Add(time.Second), 1
			}
			n, err := im.write(ctx, account, agentOf, page.Records, nextSince, next)
			written += n
			if err != nil {
				return written, err
			}
			since, msgid = nextSince, next
			if last {
				break
			}
		}
		if current {
			break
		}
	}
	if written > 0 {
		im.o.Log.Info("transcripts imported", "account", account, "messages", written)
	}
	return written, nil
}

// cursor returns where the account's import goes on, or start for its
// first.
func (im *Importer) cursor(ctx context.Context, account string, start time.Time) (time.Time, int64, error) {
	var since time.Time
	var msgid int64
	err := im.o.DB.QueryRow(ctx, `SELECT since, msgid FROM transcript_cursors WHERE account = $1`, account).Scan(&since, &msgid)
	if errors.Is(err, pgx.ErrNoRows) {
		return start, 1, nil
	}
	if err != nil {
		return time.Time{}, 0, fmt.Errorf("transcripts: cursor: %w", err)
	}
	return since, msgid, nil
}

// record is a chat record, ready to write.
type record struct {
	wxapi.Record
	at        time.Time
	direction string
	key       string
}

// importKey identifies a record: the same record read twice has the same key.
func importKey(account string, r wxapi.Record) string {
	h := sha256.New()
	for _, s := range []string{account, r.OpenID, strconv.FormatInt(r.Time, 10), r.Worker, strconv.Itoa(r.OperCode), r.Text} {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// importedSession is the id of the session that holds the user's imported
// messages of day (UTC) that belong to no archived session: 24 hex digits,
// like the engine's ids.
func importedSession(account, openid string, at time.Time) string {
	h := sha256.Sum256([]byte("imported\x00" + account + "\x00" + openid + "\x00" + at.UTC().Format("2006-01-02")))
	return hex.EncodeToString(h[:12])
}

// The opercodes of the chat records (docs/wechat.md, "Customer-service API").
const (
	opSent     = 2002 // the kf account wrote
	opReceived = 2003 // the user wrote
)

// Per record, whether kfgate archived the message itself, and the archived
// session of the user open at the record's time. kfgate's outbound message
// was created (queued) before WeChat recorded it (sent); a medium appears
// in the records as [image], [voice], [video].
const findOwn = `
SELECT EXISTS (
	SELECT 1 FROM messages
	WHERE account = $1 AND openid = $2 AND direction = $3 AND import_key IS NULL
	AND (content = $4 OR '[' || type || ']' = $4)
	AND created_at BETWEEN $5::timestamptz - interval '10 minutes' AND $5::timestamptz + interval '1 minute'),
	coalesce((SELECT id FROM sessions
	WHERE account = $1 AND openid = $2 AND created_at <= $5::timestamptz + interval '1 second'
	AND (closed_at IS NULL OR closed_at >= $5::timestamptz - interval '1 second')
	AND close_reason IS DISTINCT FROM 'imported'
	ORDER BY created_at DESC LIMIT 1), '')`

const upsertImportedSession = `
INSERT INTO sessions (id, account, openid, agent, state, created_at, updated_at, closed_at, closed_by, close_reason)
VALUES ($1, $2, $3, $4, 'closed', $5, $5, $5, 'wechat', 'imported')
ON CONFLICT (id) DO UPDATE SET
	created_at = least(sessions.created_at, excluded.created_at),
	updated_at = greatest(sessions.updated_at, excluded.updated_at),
	closed_at = greatest(sessions.closed_at, excluded.closed_at),
	agent = CASE WHEN excluded.agent <> '' AND excluded.updated_at >= sessions.updated_at THEN excluded.agent ELSE sessions.agent END`

// An imported message's key_at (the partition key) is the record's time:
// the record decides it, so the unique key holds across runs.
const insertImported = `
INSERT INTO messages (import_key, key_at, session_id, account, openid, direction, kind, type, content, status, agent, kf_account, created_at, updated_at)
VALUES ($1, $11, $2, $3, $4, $5, $6, 'text', $7, $8, $9, $10, $11, $11)
ON CONFLICT (import_key, key_at) DO NOTHING`

// write archives one page of records and moves the account's cursor, in
// one transaction: a crash leaves neither, and the next run reads the page
// again.
func (im *Importer) write(ctx context.Context, account string, agentOf map[string]string, page []wxapi.Record, since time.Time, msgid int64) (int, error) {
	recs := make([]record, 0, len(page))
	for _, r := range page {
		switch r.OperCode {
		case opSent:
			recs = append(recs, record{Record: r, direction: "out"})
		case opReceived:
			recs = append(recs, record{Record: r, direction: "in"})
		default:
			continue
		}
		rec := &recs[len(recs)-1]
		rec.at, rec.key = time.Unix(r.Time, 0).UTC(), importKey(account, r)
	}
	if err := im.makeRoom(ctx, recs); err != nil {
		return 0, err
	}
	tx, err := im.o.DB.Begin(ctx)
	if err != nil {
		return 0, fmt.Errorf("transcripts: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()

	var find pgx.Batch
	for _, r := range recs {
		find.Queue(findOwn, account, r.OpenID, r.direction, r.Text, r.at)
	}
	own := make([]bool, len(recs))
	sessionOf := make([]string, len(recs))
	if len(recs) > 0 {
		res := tx.SendBatch(ctx, &find)
		for i := range recs {
			if err := res.QueryRow().Scan(&own[i], &sessionOf[i]); err != nil {
				_ = res.Close()
				return 0, fmt.Errorf("transcripts: match: %w", err)
			}
		}
		if err := res.Close(); err != nil {
			return 0, fmt.Errorf("transcripts: match: %w", err)
		}
	}

	var ins pgx.Batch
	var isMessage []bool // per queued statement
	for i, r := range recs {
		if own[i] {
			continue
		}
		agent := agentOf[r.Worker]
		sid := sessionOf[i]
		if sid == "" {
			sid = importedSession(account, r.OpenID, r.at)
			ins.Queue(upsertImportedSession, sid, account, r.OpenID, agent, r.at)
			isMessage = append(isMessage, false)
		}
		kind, status, author := "", "received", ""
		if r.direction == "out" {
			kind, status, author = "agent", "sent", agent
		}
		ins.Queue(insertImported, r.key, sid, account, r.OpenID, r.direction, kind, r.Text, status, author, r.Worker, r.at)
		isMessage = append(isMessage, true)
	}
	ins.Queue(`INSERT INTO transcript_cursors (account, since, msgid) VALUES ($1, $2, $3)
		ON CONFLICT (account) DO UPDATE SET since = excluded.since, msgid = excluded.msgid, updated_at = now()`,
		account, since, msgid)
	isMessage = append(isMessage, false)
	res := tx.SendBatch(ctx, &ins)
	written := 0
	for _, msg := range isMessage {
		tag, err := res.Exec()
		if err != nil {
			_ = res.Close()
			return 0, fmt.Errorf("transcripts: write: %w", err)
		}
		if msg {
			written += int(tag.RowsAffected()) // 0 when imported before
		}
	}
	if err := res.Close(); err != nil {
		return 0, fmt.Errorf("transcripts: write: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return 0, fmt.Errorf("transcripts: commit: %w", err)
	}
	return written, nil
}

// makeRoom creates the monthly partitions of the archive (partitions.go)
// the records fall in, if they lack any: a first import's backfill may
// reach into a month before the archive's first.
func (im *Importer) makeRoom(ctx context.Context, recs []record) error {
	seen := map[time.Time]bool{}
	var months []time.Time
	for _, r := range recs {
		if m := month(r.at); !seen[m] {
			seen[m] = true
			months = append(months, m)
		}
	}
	if len(months) == 0 {
		return nil
	}
	tx, err := im.o.DB.Begin(ctx)
	if err != nil {
		return fmt.Errorf("transcripts: partitions: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(`+lockKey+`)`); err != nil {
		return fmt.Errorf("transcripts: partitions: %w", err)
	}
	if _, err := createMonths(ctx, tx, months); err != nil {
		return fmt.Errorf("transcripts: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("transcripts: partitions: %w", err)
	}
	return nil
}
