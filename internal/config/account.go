package config

// Account returns the account whose appid is appid.
func (c *Config) Account(appid string) (Account, bool) {
	for _, a := range c.Accounts {
		if a.AppID == appid {
			return a, true
		}
	}
	return Account{}, false
}

// SafeMode reports whether the account has an EncodingAESKey, so that
// callbacks may come encrypted (safe or compatible mode) and passive replies
// go out encrypted. Without one the account works in plaintext mode only.
func (a Account) SafeMode() bool {
	return a.AESKey != ""
}

// The accounts' modes (accounts[].mode): which callbacks kfgate accepts.
const (
	ModeSafe       = "safe"       // encrypted only (encrypt_type=aes)
	ModeCompatible = "compatible" // encrypted or plaintext
	ModePlaintext  = "plaintext"  // plaintext only
)
