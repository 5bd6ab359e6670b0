package mailparse

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// The tables below are what mail clients write above quoted history, in
// English, German, French, Spanish, Italian, Dutch, Portuguese, Swedish,
// Polish and a few more languages, lower-cased.

// mobileFooters start the one-line footers of mobile and web clients.
var mobileFooters = []string{
	"sent from my ", "sent from outlook", "get outlook for ", "sent from yahoo mail",
	"sent from mail for windows", "sent with protonmail", "sent with proton mail",
	"sent from proton mail", "sent from samsung", "sent from gmail", "sent via ",
	"sent from the all-new aol", "von meinem ", "gesendet von meinem", "gesendet von outlook",
	"gesendet mit der ", "gesendet von yahoo", "outlook für ios", "outlook für android",
	"envoyé de mon ", "envoyé depuis mon ", "envoyé à partir de ", "envoyé avec proton",
	"obtenir outlook pour", "enviado desde mi ", "enviado desde outlook", "enviado desde yahoo",
	"obtener outlook para", "inviato da ", "inviato dal mio ", "scarica outlook per",
	"verzonden vanaf mijn ", "verstuurd vanaf mijn ", "verzonden met ", "outlook voor ios",
	"outlook voor android", "enviado do meu ", "enviado de meu ", "enviado do outlook",
	"obter o outlook para", "enviado do yahoo", "skickat från min ", "skickades från min ",
	"skickat från outlook", "hämta outlook för", "wysłane z mojego ", "wysłane z iphone",
	"wysłano z mojego ", "wysłane z aplikacji", "pobierz aplikację outlook", "sendt fra min ",
	"sendt fra outlook", "lähetetty iphonesta", "lähetetty ",
}

// appFooters start the footers of other apps ("Sent from BlueMail",
// "Sent with Spark", "Sent from TypeApp <link>"); appFooterSuffixes end
// those of languages that put the verb last ("iPhoneから送信").
var (
	appFooters = []string{
		"sent from ", "sent with ", "sent using ", "sent by ", "get the ", "envoyé de ",
		"envoyé depuis ", "enviado desde ", "enviado con ", "gesendet von ", "gesendet mit ",
		"verzonden vanaf ", "inviato con ", "отправлено из ", "отправлено с ", "отправлено через ",
		"надіслано з ", "发自我的", "從我的", "从我的", "sendt fra ", "skickat från ",
	}
	appFooterSuffixes = []string{"から送信", "에서 보냄", "发送", "傳送"}
)

// isMobileFooter reports a "Sent from my iPhone" line: a footer of a
// mobile or web client, its link left out, short and not a sentence that
// goes on ("Sent from my desk, which is ..." is text). A footer of an app
// the tables do not name ("Sent from BlueMail") must end its paragraph.
func isMobileFooter(lines []line, i int) bool {
	t := strings.TrimSpace(lines[i].s)
	if !footerLine(t) {
		return false
	}
	if hasAnyPrefixFold(t, mobileFooters) {
		return true
	}
	return endsParagraph(lines, i+1)
}

// endsParagraph reports whether line j ends the paragraph above it: the
// end of the text, a blank or quoted line, or the start of something that
// is never the reply (a footer, a signature, a quote header, a header
// block, our separator). It looks at line j alone, so that a run of such
// lines costs no more than one.
func endsParagraph(lines []line, j int) bool {
	if j >= len(lines) {
		return true
	}
	s := lines[j].s
	t := strings.TrimSpace(s)
	return t == "" || isQuoted(s) || t == "--" || footerLine(t) || isRule(t) || dashedMarker(t) != "" ||
		strings.Contains(s, replySeparator) || attributionAt(lines, j) > 0 || isOutlookBlock(lines, j)
}

// footerLine reports a line shaped like a footer of a client or app.
func footerLine(t string) bool {
	if len(t) > 240 {
		return false
	}
	if t == "" || !footerStart(t[0]) {
		return false
	}
	t = strings.TrimSpace(withoutLinks(t))
	if len(t) > 120 || t == "" {
		return false
	}
	if !hasAnyPrefixFold(t, mobileFooters) && !hasAnyPrefixFold(t, appFooters) && !hasAnySuffix(t, appFooterSuffixes) {
		return false
	}
	return footerShaped(t)
}

// footerStart reports whether a line starting with byte c may be a
// footer: the footers start with these letters, or are not ASCII.
func footerStart(c byte) bool {
	switch c | 0x20 {
	case 's', 'g', 'v', 'o', 'e', 'i', 'h', 'w', 'p', 'l':
		return true
	}
	return c >= 0x80
}

// footerShaped reports whether a footer line is short and ends where a
// footer ends: after a comma only an apology ("Sent from my iPhone, please
// excuse typos") or a name ("Sent from my Verizon, Samsung Galaxy
// smartphone") may follow, not a sentence that goes on.
func footerShaped(t string) bool {
	if len(strings.Fields(t)) > 9 {
		return false
	}
	_, rest, ok := strings.Cut(t, ", ")
	if !ok {
		return true
	}
	next, _, _ := strings.Cut(rest, " ")
	switch strings.ToLower(next) {
	case "please", "excuse", "sorry", "pardon", "bitte", "désolé", "disculpa", "scusate":
		return true
	}
	r, _ := utf8.DecodeRuneInString(next)
	return unicode.IsUpper(r)
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// hasAnyPrefixFold is hasAnyPrefix ignoring case; the prefixes are
// lower-case.
func hasAnyPrefixFold(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if hasPrefixFold(s, p) {
			return true
		}
	}
	return false
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, p := range suffixes {
		if strings.HasSuffix(s, p) {
			return true
		}
	}
	return false
}

// originalPhrases are the words between the dashes of an "-----Original
// Message-----" line; forwardPhrases those of a forwarded message and of
// Apple Mail's "Begin forwarded message:".
var (
	originalPhrases = map[string]bool{
		"original message": true, "ursprüngliche nachricht": true, "originalnachricht": true,
		"ursprungliche nachricht": true, "message d'origine": true, "message original": true,
		"mensaje original": true, "messaggio originale": true, "oorspronkelijk bericht": true,
		"origineel bericht": true, "mensagem original": true, "ursprungligt meddelande": true,
		"originalmeddelande": true, "wiadomość oryginalna": true, "oryginalna wiadomość": true,
		"original meddelelse": true, "oprindelig meddelelse": true, "opprinnelig melding": true,
		"alkuperäinen viesti": true, "původní zpráva": true, "исходное сообщение": true,
		"eredeti üzenet": true, "mensaje de origen": true, "reply message": true,
		"antwort nachricht": true, "oprindelig besked": true, "original besked": true,
		"opprinnelig e-post": true, "原始邮件": true, "原始郵件": true, "原始信件": true,
		"元のメッセージ": true, "원본 메시지": true, "původní e-mail": true,
		"původní e-mailová zpráva": true, "pôvodná správa": true, "оригинальное сообщение": true,
		"исходное письмо": true, "вихідне повідомлення": true, "orijinal mesaj": true,
		"özgün ileti": true, "eredeti levél": true, "αρχικό μήνυμα": true, "mesaj original": true,
		"izvorna poruka": true, "originalno sporočilo": true,
		"below this line is a copy of the message":                 true, // qmail
		"this is a copy of the message, including all the headers": true, // Exim
	}
	forwardPhrases = map[string]bool{
		"forwarded message": true, "weitergeleitete nachricht": true, "message transféré": true,
		"message transfere": true, "mensaje reenviado": true, "messaggio inoltrato": true,
		"doorgestuurd bericht": true, "mensagem encaminhada": true, "mensagem reencaminhada": true,
		"vidarebefordrat meddelande": true, "wiadomość przekazana": true,
		"przekazana wiadomość": true, "videresendt meddelelse": true, "videresendt melding": true,
		"begin forwarded message": true, "anfang der weitergeleiteten nachricht": true,
		"début du message réexpédié": true, "début du message transféré": true,
		"inicio del mensaje reenviado": true, "comienzo del mensaje reenviado": true,
		"inizio messaggio inoltrato": true, "begin doorgestuurd bericht": true,
		"início da mensagem reencaminhada": true, "início da mensagem encaminhada": true,
		"vidarebefordrat mejl": true, "början på vidarebefordrat brev": true,
		"początek przekazywanej wiadomości": true, "początek przekazanej wiadomości": true,
		"forwarded message follows": true, "välitetty viesti": true, "videresendt besked": true,
		"пересылаемое сообщение": true, "пересланное сообщение": true, "转发邮件": true,
		"轉寄郵件": true, "転送されたメッセージ": true, "전달된 메시지": true,
		"přeposlaná zpráva": true, "preposlaná správa": true, "iletilen mesaj": true,
		"továbbított üzenet": true, "προωθημένο μήνυμα": true, "forwarded email": true,
	}
)

// dashedMarker reports an original-message or forwarded-message line.
func dashedMarker(t string) string {
	if len(t) > 100 {
		return ""
	}
	dashed := strings.HasPrefix(t, "--") || strings.HasPrefix(t, "__") || strings.HasPrefix(t, "==")
	if !dashed && len(t) > 40 && !strings.HasSuffix(t, ":") {
		return "" // the phrases without dashes are short or end with a colon
	}
	core := strings.ToLower(strings.Trim(t, "-_= \t*"))
	core = strings.TrimSpace(strings.TrimRight(core, ":."))
	switch {
	case originalPhrases[core] && dashed:
		return MarkerOriginal
	case forwardPhrases[core] || dashed && isMuttForward(t):
		return MarkerForward
	}
	return ""
}

// isMuttForward reports mutt's "----- Forwarded message from Name <a@b>
// -----".
func isMuttForward(t string) bool {
	return strings.HasPrefix(t, "-----") && strings.HasSuffix(t, "-----") &&
		hasPrefixFold(strings.Trim(t, "- "), "forwarded message from ")
}

// Header names of the blocks that Outlook and others write above a quoted
// or forwarded message, by role.
var (
	fromKeys = map[string]bool{
		"from": true, "von": true, "de": true, "da": true, "van": true, "från": true,
		"od": true, "fra": true, "lähettäjä": true, "feladó": true, "от": true,
		"kimden": true, "发件人": true, "寄件者": true, "差出人": true, "від": true, "od kogo": true,
		"보낸 사람": true, "feladó neve": true,
	}
	dateKeys = map[string]bool{
		"sent": true, "date": true, "gesendet": true, "datum": true, "envoyé": true, "envoyé le": true,
		"enviado": true, "enviado el": true, "fecha": true, "inviato": true, "data": true,
		"verzonden": true, "verstuurd": true, "enviada": true, "enviada em": true, "enviado em": true,
		"skickat": true, "wysłano": true, "wysłane": true, "sendt": true, "lähetetty": true,
		"küldve": true, "отправлено": true, "tarih": true, "发送时间": true, "日期": true,
		"送信日時": true, "dato": true, "odesláno": true, "дата": true, "보낸 날짜": true, "päivämäärä": true,
	}
	blockKeys = map[string]bool{
		"sent": true, "date": true, "to": true, "cc": true, "bcc": true, "subject": true,
		"gesendet": true, "datum": true, "an": true, "betreff": true, "kopie": true,
		"envoyé": true, "à": true, "objet": true, "envoyé le": true,
		"enviado": true, "enviado el": true, "fecha": true, "para": true, "asunto": true,
		"inviato": true, "data": true, "a": true, "oggetto": true, "copia": true,
		"verzonden": true, "aan": true, "onderwerp": true, "verstuurd": true,
		"enviada": true, "enviada em": true, "enviado em": true, "assunto": true,
		"skickat": true, "till": true, "ämne": true, "kopia": true,
		"wysłano": true, "wysłane": true, "do": true, "temat": true, "dw": true,
		"sendt": true, "til": true, "emne": true, "lähetetty": true, "vastaanottaja": true,
		"aihe": true, "küldve": true, "címzett": true, "tárgy": true, "отправлено": true,
		"кому": true, "тема": true, "tarih": true, "kime": true, "konu": true,
		"发送时间": true, "收件人": true, "主题": true, "日期": true, "送信日時": true,
		"宛先": true, "件名": true, "reply-to": true, "cci": true, "dato": true, "kopi": true,
		"odesláno": true, "komu": true, "předmět": true, "дата": true, "копия": true,
		"받는 사람": true, "제목": true, "참조": true, "päivämäärä": true, "kopio": true,
	}
)

// isOutlookBlock reports a header block starting at line i: a From line
// (or a Sent/Date line) with at least two more header lines of the block
// right after it, one blank line between them tolerated, and lines the
// client wrapped ("From: Name [mailto:" / "name@example.com]") taken along.
// Two lines are enough when they are a date and an address ("From: a@b /
// Date: Tue, 5 Mar 2024 10:12"), and one when the block lost its line
// breaks ("From: a@b Date: Tue, 5 Mar 2024 10:12").
func isOutlookBlock(lines []line, i int) bool {
	k, v := headerField(lines[i].s)
	if k == "" || !(fromKeys[k] || dateKeys[k]) {
		return false
	}
	var b block
	b.add(k, v)
	if fromKeys[k] && collapsedBlock(v) {
		return true
	}
	blanks, wrapped, prevField := 0, 0, true
	for j := i + 1; j < len(lines) && j < i+12; j++ {
		s := lines[j].s
		if isBlank(s) {
			blanks++
			if blanks > 1 {
				break
			}
			prevField = false
			continue
		}
		kj, vj := headerField(s)
		if fromKeys[kj] || blockKeys[kj] {
			b.add(kj, vj)
			prevField = true
			continue
		}
		if prevField && wrapped < 2 && wrappedField(s) {
			wrapped++
			b.wrapped(s)
			continue
		}
		break
	}
	return b.n >= 3 && b.from || b.n >= 2 && b.dated && b.addressed
}

// block collects what a header block holds.
type block struct {
	n         int  // header lines
	from      bool // a From line
	dated     bool // a Date or Sent line with a date
	addressed bool // a From or To line with an address
	last      string
}

func (b *block) add(k, v string) {
	b.n++
	b.last = k
	switch {
	case fromKeys[k]:
		b.from = true
		b.addressed = b.addressed || strings.Contains(v, "@")
	case dateKeys[k]:
		b.dated = b.dated || hasDateTime(v)
	case k == "to" || k == "an" || k == "à" || k == "para" || k == "til" || k == "till" || k == "aan":
		b.addressed = b.addressed || strings.Contains(v, "@")
	}
}

// wrapped takes a line the client wrapped as part of the field before it.
func (b *block) wrapped(s string) {
	if fromKeys[b.last] && strings.Contains(s, "@") {
		b.addressed = true
	}
}

// wrappedField reports a line that continues the header field above it:
// the rest of an address ("name@example.com]", "[mailto:a@b]").
func wrappedField(s string) bool {
	t := strings.TrimSpace(s)
	return strings.Contains(t, "@") && len(t) < 120 || strings.HasPrefix(t, "[mailto:") || strings.HasPrefix(t, "<mailto:")
}

// collapsedBlock reports the value of a From line that holds the rest of
// its block too: "a@b Sent: Tuesday, 5 March 2024 10:12 To: c@d".
func collapsedBlock(v string) bool {
	l := strings.ToLower(v)
	for _, k := range []string{" sent:", " date:", " gesendet:", " datum:", " envoyé :", " envoyé:", " enviado:", " fecha:", " verzonden:", " sendt:", " skickat:"} {
		if i := strings.Index(l, k); i >= 0 && hasDateTime(l[i:]) {
			return true
		}
	}
	return false
}

// headerField returns the lower-cased name and the value of a "Name:
// value" line ("*From:* value" too), "" if the line is not one.
func headerField(s string) (string, string) {
	t := strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "*"))
	head := t[:min(len(t), 34)]
	i, w := strings.IndexByte(head, ':'), 1
	if j := strings.Index(head, "："); j > 0 && (i < 0 || j < i) {
		i, w = j, len("：")
	}
	if i <= 0 || i > 30 {
		return "", ""
	}
	v := t[i+w:]
	return strings.ToLower(strings.TrimSpace(strings.Trim(t[:i], "*"))), strings.TrimSpace(strings.TrimLeft(v, "* "))
}
