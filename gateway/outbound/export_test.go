package outbound

// SetSyncDir replaces how s makes its directory entries durable.
func SetSyncDir(s *MaildirSender, f func(dir string) error) { s.syncDir = f }
