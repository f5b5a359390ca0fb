package redisconn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/redis/go-redis/v9"
)

// MinVersion is the oldest Redis kfgate runs on: its scripts and streams
// use 7.0's commands and replies (docs/redis.md).
const MinVersion = 7

// ErrUnfit is the kind of error Check returns for a server kfgate must not
// run on.
var ErrUnfit = errors.New("unfit for kfgate")

// Check refuses a server that would lose or refuse kfgate's state: older
// than 7.0, or one that evicts keys when memory is full (a dedup key, a
// session or a stream entry evicted is a message lost or handled twice;
// kfgate wants writes refused instead, which a callback answers with 503
// and WeChat retries). It returns warnings for what it does not refuse:
// neither AOF nor a connected replica keeps the data if the server dies.
//
// Managed services often disable or rename CONFIG; the eviction policy is
// then read from INFO memory.
func Check(ctx context.Context, rdb redis.Cmdable) ([]string, error) {
	// INFO without a section gives the default ones (server, memory,
	// persistence, replication among them) on every version.
	info, err := rdb.Info(ctx).Result()
	if err != nil {
		return nil, fmt.Errorf("INFO: %w", err)
	}
	fields := parseInfo(info)
	version := fields["redis_version"]
	major, _, _ := strings.Cut(version, ".")
	if n, err := strconv.Atoi(major); err != nil || n < MinVersion {
		return nil, fmt.Errorf("%w: Redis %s; kfgate needs %d.0 or later", ErrUnfit, cmp.Or(version, "of unknown version"), MinVersion)
	}
	policy := ""
	if got, err := rdb.ConfigGet(ctx, "maxmemory-policy").Result(); err == nil {
		policy = got["maxmemory-policy"]
	}
	if policy == "" {
		policy = fields["maxmemory_policy"] // CONFIG refused or renamed
	}
	switch policy {
	case "noeviction":
	case "":
		return nil, fmt.Errorf("%w: its maxmemory-policy is unknown (neither CONFIG GET nor INFO memory tells it); kfgate needs noeviction", ErrUnfit)
	default:
		return nil, fmt.Errorf("%w: maxmemory-policy is %s, which deletes keys when memory is full "+
			"(a dedup key, a session or a queued message); set maxmemory-policy noeviction", ErrUnfit, policy)
	}
	var warnings []string
	replicas, _ := strconv.Atoi(fields["connected_slaves"])
	if fields["aof_enabled"] != "1" && replicas == 0 {
		warnings = append(warnings, "neither AOF (appendonly yes) nor a connected replica protects the data: "+
			"if this Redis dies, the sessions, queues and messages not yet sent die with it")
	}
	return warnings, nil
}

// parseInfo reads INFO's "key:value" lines.
func parseInfo(s string) map[string]string {
	fields := map[string]string{}
	for line := range strings.Lines(s) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), ":")
		if ok && !strings.HasPrefix(k, "#") {
			fields[k] = v
		}
	}
	return fields
}
