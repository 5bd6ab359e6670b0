package mailparse_test

import (
	"fmt"

	"github.com/casegate/casegate/mailparse"
)

func ExampleParse() {
	raw := "From: Jane Doe <jane@example.com>\r\n" +
		"Subject: AW: [CS0000042] Printer on 3rd floor\r\n" +
		"Message-ID: <reply-1@example.com>\r\n" +
		"In-Reply-To: <casegate.42@helpdesk.example.com>\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n\r\n" +
		"It works again, thanks!\r\n\r\n" +
		"Am Di., 5. März 2024 um 10:12 Uhr schrieb Support <support@helpdesk.example.com>:\r\n" +
		"> ##- Please type your reply above this line -##\r\n"
	m, err := mailparse.Parse([]byte(raw), mailparse.Options{CasePrefix: "CS"})
	if err != nil {
		fmt.Println("quarantine:", err)
		return
	}
	fmt.Println(m.CaseTag, m.Topic)
	fmt.Println(m.InReplyTo)
	fmt.Printf("%q cut by %s\n", m.Visible, m.Cut.Marker)
	// Output:
	// CS0000042 Printer on 3rd floor
	// [casegate.42@helpdesk.example.com]
	// "It works again, thanks!" cut by quote_header
}

func ExampleVisibleReply() {
	visible, cut := mailparse.VisibleReply("Yes, please.\n\n-----Original Message-----\nFrom: Support\n")
	fmt.Printf("%q %s %d\n", visible, cut.Marker, cut.Removed)
	// Output:
	// "Yes, please." original_message 43
}

func ExampleNormalizeSubject() {
	fmt.Println(mailparse.NormalizeSubject("RE: SV: Fwd: [EXTERNAL] [CS0000042] VPN drops", "CS"))
	// Output:
	// VPN drops CS0000042
}
