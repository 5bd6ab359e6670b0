package mailparse

import (
	"strings"
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

// isMobileFooter reports a "Sent from my iPhone" line.
func isMobileFooter(t string) bool {
	if len(t) > 120 {
		return false
	}
	l := strings.ToLower(t)
	for _, p := range mobileFooters {
		if strings.HasPrefix(l, p) {
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
		"eredeti üzenet": true, "mensaje de origen": true,
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
		"forwarded message follows": true,
	}
)

// dashedMarker reports an original-message or forwarded-message line.
func dashedMarker(t string) string {
	if len(t) > 100 {
		return ""
	}
	dashed := strings.HasPrefix(t, "--") || strings.HasPrefix(t, "__") || strings.HasPrefix(t, "==")
	core := strings.ToLower(strings.Trim(t, "-_= \t*"))
	core = strings.TrimSpace(strings.TrimRight(core, ":."))
	switch {
	case originalPhrases[core] && dashed:
		return MarkerOriginal
	case forwardPhrases[core]:
		return MarkerForward
	}
	return ""
}

// Header names of the blocks that Outlook and others write above a quoted
// or forwarded message, by role.
var (
	fromKeys = map[string]bool{
		"from": true, "von": true, "de": true, "da": true, "van": true, "från": true,
		"od": true, "fra": true, "lähettäjä": true, "feladó": true, "от": true,
		"kimden": true, "发件人": true, "寄件者": true, "差出人": true, "від": true, "od kogo": true,
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
		"宛先": true, "件名": true, "reply-to": true, "cci": true,
	}
)

// headerKey returns the lower-cased name of a "Name: value" line, "" if
// the line is not one.
func headerKey(s string) string {
	t := strings.TrimSpace(strings.Trim(strings.TrimSpace(s), "*"))
	i := strings.IndexAny(t, ":：")
	if i <= 0 || i > 30 {
		return ""
	}
	return strings.ToLower(strings.TrimSpace(strings.Trim(t[:i], "*")))
}

// isOutlookBlock reports a header block starting at line i: a From line
// (or a Sent/Date line) with at least two more header lines of the block
// right after it, one blank line between them tolerated.
func isOutlookBlock(lines []line, i int) bool {
	k := headerKey(lines[i].s)
	if k == "" || !(fromKeys[k] || k == "sent" || k == "date" || k == "gesendet" || k == "datum") {
		return false
	}
	hasFrom := fromKeys[k]
	n, blanks := 1, 0
	for j := i + 1; j < len(lines) && j < i+10; j++ {
		if isBlank(lines[j].s) {
			blanks++
			if blanks > 1 {
				break
			}
			continue
		}
		kj := headerKey(lines[j].s)
		switch {
		case fromKeys[kj]:
			hasFrom = true
		case blockKeys[kj]:
		default:
			j = len(lines)
			continue
		}
		n++
	}
	return n >= 3 && hasFrom
}

// attributionVerbs are the verbs of "On ... wrote:" lines.
var attributionVerbs = []string{
	"wrote", "writes", "schrieb", "schreef", "skrev", "a écrit", "escribió", "escreveu",
	"ha scritto", "napisał", "pisze", "kirjoitti", "napsal", "írta", "έγραψε",
	"написал", "yazdı", "写道", "寫道", "scrisse", "va escriure", "escrigué",
}

// attributionLeads start attribution lines in their languages.
var attributionLeads = []string{
	"on ", "am ", "le ", "el ", "il ", "op ", "em ", "den ", "w dniu ", "dnia ",
	"in ", "à ", "quoting ", "zitat von ", "citando ", "the ",
}

// attributionAt returns how many lines (1 to 3, for clients that wrap it)
// the attribution line starting at line i takes, 0 if there is none.
func attributionAt(lines []line, i int) int {
	first := strings.TrimSpace(lines[i].s)
	if first == "" || isQuoted(first) || len(first) > 300 {
		return 0
	}
	joined := first
	for n := 1; n <= 3 && i+n <= len(lines); n++ {
		if n > 1 {
			t := strings.TrimSpace(lines[i+n-1].s)
			if t == "" || isQuoted(t) || len(joined) > 300 {
				return 0
			}
			joined += " " + t
		}
		if !strings.HasSuffix(joined, ":") {
			continue
		}
		if isAttribution(joined, n == 1 || leadsAttribution(first), nextQuoted(lines, i+n)) {
			return n
		}
		return 0
	}
	return 0
}

// isAttribution reports an "On <date>, <name> wrote:" line. lead says the
// first line may start one; quotedNext that quoted lines follow.
func isAttribution(s string, lead, quotedNext bool) bool {
	l := strings.ToLower(s)
	if strings.HasPrefix(l, "* ") && strings.HasSuffix(l, "]:") && quotedNext {
		return true // mutt: "* Name <addr> [2024-03-05 10:12]:"
	}
	if !lead {
		return false
	}
	verb := false
	for _, v := range attributionVerbs {
		if strings.Contains(l, v) {
			verb = true
			break
		}
	}
	if !verb {
		return false
	}
	return leadsAttribution(l) || strings.Contains(l, "@") || quotedNext
}

// leadsAttribution reports a line that starts like an attribution: a lead
// word, or a date with an address (Polish Gmail starts with the weekday).
func leadsAttribution(s string) bool {
	l := strings.ToLower(s)
	for _, p := range attributionLeads {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return strings.ContainsAny(l, "0123456789") && strings.Contains(l, "@")
}

// nextQuoted reports whether the first non-blank line from i is quoted.
func nextQuoted(lines []line, i int) bool {
	for ; i < len(lines); i++ {
		if !isBlank(lines[i].s) {
			return isQuoted(lines[i].s)
		}
	}
	return false
}
