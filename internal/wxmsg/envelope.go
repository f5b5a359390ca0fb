package wxmsg

// Envelope reads the outer XML of a push in safe or compatible mode:
//
//	<xml><ToUserName>gh_…</ToUserName><Encrypt>base64…</Encrypt></xml>
//
// ToUserName (the account's original id) stays in clear so that a gateway
// serving several accounts can route before decrypting; it is returned as
// found, possibly empty. In compatible mode the envelope also carries every
// plaintext field of the message; they are checked for well-formedness and
// otherwise ignored, since only the decrypted copy is signed. Encrypt is
// returned exactly as sent: the msg_signature covers it byte for byte. A
// missing or empty Encrypt is an error, as is anything Decode would find
// malformed.
func Envelope(raw []byte) (toUser, encrypt string, err error) {
	w := newWalker(string(raw))
	sawEncrypt := false
	for {
		ev, path, val, err := w.next()
		if err != nil {
			return "", "", err
		}
		if ev == evEOF {
			break
		}
		if ev != evLeaf || len(path) != 1 {
			continue
		}
		switch path[0] {
		case "ToUserName":
			toUser = val
		case "Encrypt":
			encrypt, sawEncrypt = val, true
		}
	}
	switch {
	case !sawEncrypt:
		return "", "", malformed("missing Encrypt")
	case encrypt == "":
		return "", "", malformed("empty Encrypt")
	}
	return toUser, encrypt, nil
}
