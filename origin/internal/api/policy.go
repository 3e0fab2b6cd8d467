package api

// privacyPolicy is the text of /privacy. Keep it true: every sentence here
// is a claim about the code and the deployment, and a change to what is
// stored or logged changes this text in the same commit.
var privacyPolicy = Policy{
	Title:   "picket privacy policy",
	Version: "2026-12-04",
	Summary: "picket is built so that it knows as little about you as it can. " +
		"You sign up with a passkey and a pseudonym you choose; we never ask for an " +
		"email address, a phone number or your name.",
	Sections: []Section{
		{
			Heading: "What we never collect",
			Paragraphs: []string{
				"No email address, phone number, real name, contact list or location.",
				"Our request logs never contain your IP address, your user agent, your " +
					"cookies, your authorization header or what you sent. The gateway " +
					"removes forwarded-address headers before a request reaches the origin " +
					"server, and neither the gateway's access log nor the origin's log " +
					"records an address.",
			},
		},
		{
			Heading: "What the logs do contain, and for how long",
			Paragraphs: []string{
				"For each request: a random request id, the route pattern (for example " +
					"\"GET /unions/{id}\", never the actual identifier), the status code and " +
					"how long it took. These lines identify no person.",
				"Events we count for the transparency report (such as \"a post was " +
					"reported\") are stored with a timestamp and nothing else, and are " +
					"deleted after 24 hours.",
			},
		},
		{
			Heading: "Where data lives",
			Paragraphs: []string{
				"The origin keeps three separate PostgreSQL databases: content (public " +
					"union pages and posts, and the 24-hour event log), membership (accounts, " +
					"passkeys, sessions and memberships) and ballot. Each has its own " +
					"database role that cannot open the other two.",
			},
		},
		{
			Heading: "Who can see what",
			Paragraphs: []string{
				"Union pages and posts are public. Nobody, including union admins and " +
					"us, is shown a list of a union's members: admins see counts only.",
			},
		},
		{
			Heading: "Reaching us over Tor",
			Paragraphs: []string{
				"picket can be reached as an onion service. Public pages work without " +
					"JavaScript, so they can be read in Tor Browser at its Safest level.",
			},
		},
	},
}
