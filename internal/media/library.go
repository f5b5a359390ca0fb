package media

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"time"

	"github.com/kfgate/kfgate/internal/kf"
)

// Library is what the API serves media from: the store, and an ffmpeg
// binary, when configured, to make voice messages playable in a browser.
type Library struct {
	Store
	// FFmpeg is the path of an ffmpeg binary (config media.ffmpeg); empty:
	// voice is served as WeChat sent it (AMR or Speex), download only.
	FFmpeg string
	// Timeout bounds one transcode. Default 20 s.
	Timeout time.Duration
}

// formats are the transcodes a voice message can be asked for: the
// Content-Type served and ffmpeg's output options.
var formats = map[string]struct {
	ctype string
	args  []string
}{
	"mp3": {"audio/mpeg", []string{"-f", "mp3", "-codec:a", "libmp3lame", "-q:a", "5"}},
	"wav": {"audio/wav", []string{"-f", "wav", "-codec:a", "pcm_s16le"}},
}

// transcodeArgs returns ffmpeg's arguments to turn stdin into format on
// stdout, and the result's Content-Type.
func transcodeArgs(format string) ([]string, string, error) {
	f, ok := formats[format]
	if !ok {
		return nil, "", kf.Errorf(kf.KindInvalid, "bad_format", "format must be mp3 or wav")
	}
	args := append([]string{"-hide_banner", "-loglevel", "error", "-nostdin", "-i", "pipe:0", "-vn"}, f.args...)
	return append(args, "pipe:1"), f.ctype, nil
}

// Transcode converts a stored voice message to a browser-playable format
// ("mp3" or "wav") with ffmpeg.
func (l *Library) Transcode(ctx context.Context, r Record, data []byte, format string) ([]byte, string, error) {
	if l.FFmpeg == "" {
		return nil, "", kf.Errorf(kf.KindNotFound, "no_transcoder", "no transcoding: media.ffmpeg is not configured")
	}
	if r.Kind != KindVoice {
		return nil, "", kf.Errorf(kf.KindInvalid, "bad_format", "only voice messages are transcoded")
	}
	args, ctype, err := transcodeArgs(format)
	if err != nil {
		return nil, "", err
	}
	timeout := l.Timeout
	if timeout <= 0 {
		timeout = 20 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, l.FFmpeg, args...)
	var out, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = bytes.NewReader(data), &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, "", kf.Wrap(kf.KindInternal, "transcode_failed", fmt.Errorf("ffmpeg: %w: %s", err, bytes.TrimSpace(stderr.Bytes())), "transcoding failed")
	}
	return out.Bytes(), ctype, nil
}
