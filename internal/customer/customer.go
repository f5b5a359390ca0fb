// Package customer is what kfgate knows of a user: WeChat's profile
// (user/info: subscription, remark, tags — WeChat no longer gives a
// nickname or an avatar), cached in Redis; the account's tags; and the
// changes an agent makes to them (remark, tags), sent to WeChat. Tags double
// as routing skills (accounts[].tag_skills): the engine asks TagsOf.
package customer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/go-redis/v9"

	"github.com/kfgate/kfgate/internal/kf"
	"github.com/kfgate/kfgate/internal/wxapi"
)

// WeChat is what the package calls on WeChat (wxapi.Client).
type WeChat interface {
	UserInfo(ctx context.Context, appid, openid string) (wxapi.UserInfo, error)
	UpdateRemark(ctx context.Context, appid, openid, remark string) error
	Tags(ctx context.Context, appid string) ([]wxapi.Tag, error)
	TagUsers(ctx context.Context, appid string, tag int, openids []string, untag bool) error
}

var _ WeChat = (*wxapi.Client)(nil)

// Options configure a Service.
type Options struct {
	Redis  redis.Cmdable
	Prefix string
	WeChat WeChat
	// DB, when set, gets every profile kfgate reads (table wechat_users),
	// so that the archive's search finds users by their remark.
	DB *pgxpool.Pool
	// TTL is how long a profile or the tag list is cached. Default 10 min.
	TTL time.Duration
}

// Service reads and changes users' WeChat profiles.
type Service struct{ o Options }

// New returns a Service.
func New(o Options) *Service {
	if o.TTL <= 0 {
		o.TTL = 10 * time.Minute
	}
	return &Service{o: o}
}

// Profile is a user's WeChat profile as kfgate last read it.
type Profile struct {
	wxapi.UserInfo
	Account   string    `json:"account"`
	FetchedAt time.Time `json:"fetched_at"`
}

func (s *Service) userKey(account, openid string) string {
	return s.o.Prefix + "user:" + account + ":" + openid
}

// Profile returns the user's profile: from the cache, or from WeChat.
func (s *Service) Profile(ctx context.Context, account, openid string) (Profile, error) {
	b, err := s.o.Redis.Get(ctx, s.userKey(account, openid)).Bytes()
	if err == nil {
		var p Profile
		if json.Unmarshal(b, &p) == nil {
			return p, nil
		}
	} else if !errors.Is(err, redis.Nil) {
		return Profile{}, kf.Wrap(kf.KindUnavailable, "unavailable", err, "user cache unavailable")
	}
	return s.refresh(ctx, account, openid)
}

// refresh reads the profile from WeChat and caches it.
func (s *Service) refresh(ctx context.Context, account, openid string) (Profile, error) {
	info, err := s.o.WeChat.UserInfo(ctx, account, openid)
	if err != nil {
		if wxapi.Code(err) == 40003 {
			return Profile{}, kf.Errorf(kf.KindNotFound, "no_user", "WeChat knows no user %q of this account", truncate(openid))
		}
		return Profile{}, err
	}
	p := Profile{UserInfo: info, Account: account, FetchedAt: time.Now().UTC()}
	b, _ := json.Marshal(p)
	if err := s.o.Redis.Set(ctx, s.userKey(account, openid), b, s.o.TTL).Err(); err != nil {
		return Profile{}, kf.Wrap(kf.KindUnavailable, "unavailable", err, "user cache unavailable")
	}
	if s.o.DB != nil {
		// For the archive's search by remark; best effort: the profile
		// is WeChat's, and the next read writes it again.
		_, _ = s.o.DB.Exec(ctx, `INSERT INTO wechat_users (account, openid, remark, tag_ids, subscribed, updated_at)
			VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (account, openid) DO UPDATE
			SET remark = $3, tag_ids = $4, subscribed = $5, updated_at = now()`,
			account, openid, info.Remark, info.TagIDs, info.Subscribe == 1)
	}
	return p, nil
}

// Tags returns the account's tags (tags/get), cached.
func (s *Service) Tags(ctx context.Context, account string) ([]wxapi.Tag, error) {
	key := s.o.Prefix + "tags:" + account
	if b, err := s.o.Redis.Get(ctx, key).Bytes(); err == nil {
		var tags []wxapi.Tag
		if json.Unmarshal(b, &tags) == nil {
			return tags, nil
		}
	}
	tags, err := s.o.WeChat.Tags(ctx, account)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(tags)
	_ = s.o.Redis.Set(ctx, key, b, s.o.TTL).Err()
	return tags, nil
}

// Change is what an agent changes of a user; nil fields stay.
type Change struct {
	Remark *string `json:"remark"`
	Tags   *[]int  `json:"tags"` // the user's tags after the change
}

// maxRemark is WeChat's limit on a remark: 30 characters.
const maxRemark = 30

// Update applies a change at WeChat — updateremark, then batchtagging for
// the tags added and batchuntagging for those removed — and returns the
// profile WeChat has afterwards.
func (s *Service) Update(ctx context.Context, account, openid string, c Change) (Profile, error) {
	if c.Remark == nil && c.Tags == nil {
		return Profile{}, kf.Errorf(kf.KindInvalid, "empty_change", "give remark, tags or both")
	}
	if c.Remark != nil && utf8.RuneCountInString(*c.Remark) > maxRemark {
		return Profile{}, kf.Errorf(kf.KindInvalid, "bad_remark", "a remark is at most %d characters", maxRemark)
	}
	if c.Tags != nil && len(*c.Tags) > 20 {
		return Profile{}, kf.Errorf(kf.KindInvalid, "bad_tags", "a user has at most 20 tags")
	}
	cur, err := s.refresh(ctx, account, openid)
	if err != nil {
		return Profile{}, err
	}
	if c.Remark != nil && *c.Remark != cur.Remark {
		if err := s.o.WeChat.UpdateRemark(ctx, account, openid, *c.Remark); err != nil {
			return Profile{}, err
		}
	}
	if c.Tags != nil {
		for _, t := range *c.Tags {
			if !slices.Contains(cur.TagIDs, t) {
				if err := s.o.WeChat.TagUsers(ctx, account, t, []string{openid}, false); err != nil {
					return Profile{}, fmt.Errorf("tag %d: %w", t, err)
				}
			}
		}
		for _, t := range cur.TagIDs {
			if !slices.Contains(*c.Tags, t) {
				if err := s.o.WeChat.TagUsers(ctx, account, t, []string{openid}, true); err != nil {
					return Profile{}, fmt.Errorf("untag %d: %w", t, err)
				}
			}
		}
		_ = s.o.Redis.Del(ctx, s.o.Prefix+"tags:"+account).Err() // the counts changed
	}
	return s.refresh(ctx, account, openid)
}

// TagsOf returns the user's tag ids for routing: from the cache, or from
// WeChat within timeout (a new user's first message waits for it at most
// that long; on failure the user is routed without a tag skill).
func (s *Service) TagsOf(ctx context.Context, account, openid string, timeout time.Duration) ([]int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p, err := s.Profile(ctx, account, openid)
	if err != nil {
		return nil, err
	}
	return p.TagIDs, nil
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}
