// Command go-requester asks Countersign for an approval over raw NATS, without an SDK, and
// waits for the decision: what a team writing Go (or any language with a NATS client) does
// with the wire contract of docs/contract.md and the JSON Schemas in docs/contracts/.
//
//  1. policy.evaluate (request/reply): what the policy would decide, and why.
//  2. Subscribe to approval.decided.<action_id> first, so no decision can slip past.
//  3. Publish the request to the intake stream with JetStream, Nats-Msg-Id = action_id: once the
//     stream acknowledges it, the request is durable (a repeat is de-duplicated).
//  4. Read the last message on approval.decided.<action_id> from the APPROVAL_EVENTS stream (a
//     decision made before the subscription existed), then wait on the subscription. After a
//     reconnect, read the stream again: a core subscription misses what was published while
//     the connection was down.
//
// Usage (from examples/go, with the system running: bash scripts/run.sh):
//
//	go run . [-action-id ID] [-amount 1500] [-requested-by billing-job] [-timeout 5m]
//
// NATS_URL (default nats://127.0.0.1:4222), NATS_USER / NATS_PASSWORD and NATS_CREDS (a
// credentials file) configure the connection. Exit codes: 0 approved, 1 rejected, expired or
// cancelled, 2 an error or the wait timed out (the approval itself stays pending).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Names from the contract (packages/contracts/src/subjects.ts).
const (
	subjectRequested   = "approval.requested"
	subjectEvaluate    = "policy.evaluate"
	eventsStream       = "APPROVAL_EVENTS"
	headerErrorCode    = "Nats-Service-Error-Code"
	eventVersion       = 1
	exitApproved       = 0
	exitNotApproved    = 1
	exitFailed         = 2
	defaultNatsURL     = "nats://127.0.0.1:4222"
	decidedSubjectRoot = "approval.decided."
)

// ApprovalRequest is docs/contracts/jsonschema/approval.requested.request.json.
type ApprovalRequest struct {
	ActionID    string         `json:"action_id"`
	ActionType  string         `json:"action_type"`
	Description string         `json:"description"`
	Context     map[string]any `json:"context,omitempty"`
	RequestedBy string         `json:"requested_by"`
}

// PolicyDecision is the part of policy.evaluate.reply.json this example prints.
type PolicyDecision struct {
	Outcome       string   `json:"outcome"`
	ApproverRoles []string `json:"approver_roles"`
	Reasons       []struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"reasons"`
}

// Approval is the part of an approval record this example reads.
type Approval struct {
	ActionID       string  `json:"action_id"`
	Status         string  `json:"status"`
	DecidedBy      *string `json:"decided_by"`
	DecisionReason *string `json:"decision_reason"`
}

// ApprovalEvent is the envelope of approval.decided.<id> (approval.decided.event.json).
// Version is a pointer: an envelope without it was written before the field existed and
// reads as version 1; any other version may mean something else and is refused.
type ApprovalEvent struct {
	Version    *int     `json:"version"`
	ID         string   `json:"id"`
	Type       string   `json:"type"`
	OccurredAt string   `json:"occurred_at"`
	Data       Approval `json:"data"`
}

// ErrorBody is error.json: every command's structured error.
type ErrorBody struct {
	Error struct {
		Code    string         `json:"code"`
		Message string         `json:"message"`
		Details map[string]any `json:"details"`
	} `json:"error"`
}

func main() {
	os.Exit(run())
}

func run() int {
	actionID := flag.String("action-id", "", "the request's action_id (idempotency key); default: a new one")
	amount := flag.Float64("amount", 1500, "context.amount of the payment")
	requestedBy := flag.String("requested-by", "billing-job", "who asks")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for the decision")
	flag.Parse()
	if *actionID == "" {
		*actionID = "go-payment-" + randomHex(6)
	}

	nc, err := connect()
	if err != nil {
		return fail("connect: %v", err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return fail("jetstream: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()

	request := ApprovalRequest{
		ActionID:    *actionID,
		ActionType:  "payment",
		Description: "Pay invoice 42 to ACME",
		Context:     map[string]any{"amount": *amount, "currency": "EUR"},
		RequestedBy: *requestedBy,
	}
	body, err := json.Marshal(request)
	if err != nil {
		return fail("encode: %v", err)
	}

	// 1. What the policy would decide (creates nothing).
	var decision PolicyDecision
	if err := command(ctx, nc, subjectEvaluate, body, &decision); err != nil {
		return fail("policy.evaluate: %v", err)
	}
	fmt.Printf("policy: %s by %v\n", decision.Outcome, decision.ApproverRoles)

	// 2. Subscribe before asking, so the decision cannot be published unseen.
	subject := decidedSubjectRoot + *actionID
	events := make(chan *nats.Msg, 4)
	sub, err := nc.ChanSubscribe(subject, events)
	if err != nil {
		return fail("subscribe: %v", err)
	}
	defer sub.Unsubscribe()
	reconnected := make(chan struct{}, 1)
	nc.SetReconnectHandler(func(*nats.Conn) {
		select {
		case reconnected <- struct{}{}:
		default:
		}
	})

	// 3. The durable request: acknowledged by the stream, de-duplicated on Nats-Msg-Id.
	ack, err := js.Publish(ctx, subjectRequested, body, jetstream.WithMsgID(*actionID))
	if err != nil {
		return fail("publish: %v", err)
	}
	fmt.Printf("requested %s (intake sequence %d)\n", *actionID, ack.Sequence)
	fmt.Printf("approve it with:\n  nats --context frank req approval.decide.frank '{\"action_id\":\"%s\",\"approved\":true}'\n", *actionID)

	// 4. A decision stored already, else the subscription; the stream again after a reconnect.
	stream, err := js.Stream(ctx, eventsStream)
	if err != nil {
		return fail("stream %s: %v", eventsStream, err)
	}
	readStored := func() (*Approval, error) {
		stored, err := stream.GetLastMsgForSubject(ctx, subject)
		if err != nil {
			// Not decided yet (ErrMsgNotFound), or the stream is briefly unreachable: the
			// subscription and the next reconnect's read cover both.
			if !errors.Is(err, jetstream.ErrMsgNotFound) {
				fmt.Fprintf(os.Stderr, "go-requester: reading %s: %v (waiting on the subscription)\n", subject, err)
			}
			return nil, nil
		}
		return decodeEvent(stored.Data)
	}
	approval, err := readStored()
	for approval == nil && err == nil {
		select {
		case msg := <-events:
			approval, err = decodeEvent(msg.Data)
		case <-reconnected:
			approval, err = readStored()
		case <-ctx.Done():
			return fail("no decision on %s within %s; it stays pending", *actionID, *timeout)
		}
	}
	if err != nil {
		return fail("%v", err)
	}
	return report(*approval)
}

// connect uses NATS_URL and, when set, NATS_CREDS or NATS_USER / NATS_PASSWORD, and
// NATS_INBOX_PREFIX: the only inbox the server lets this identity's user read replies on.
func connect() (*nats.Conn, error) {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = defaultNatsURL
	}
	options := []nats.Option{nats.Name("countersign-go-example"), nats.MaxReconnects(-1)}
	if creds := os.Getenv("NATS_CREDS"); creds != "" {
		options = append(options, nats.UserCredentials(creds))
	}
	if user := os.Getenv("NATS_USER"); user != "" {
		options = append(options, nats.UserInfo(user, os.Getenv("NATS_PASSWORD")))
	}
	if prefix := os.Getenv("NATS_INBOX_PREFIX"); prefix != "" {
		options = append(options, nats.CustomInboxPrefix(prefix))
	}
	return nats.Connect(url, options...)
}

// command sends a request/reply command and decodes its reply, or its structured error: a
// failed command answers error.json with the Nats-Service-Error-Code header.
func command(ctx context.Context, nc *nats.Conn, subject string, body []byte, reply any) error {
	msg, err := nc.RequestWithContext(ctx, subject, body)
	if err != nil {
		return err
	}
	if code := msg.Header.Get(headerErrorCode); code != "" {
		var e ErrorBody
		if err := json.Unmarshal(msg.Data, &e); err != nil {
			return fmt.Errorf("error %s with an unreadable body: %w", code, err)
		}
		return fmt.Errorf("%s (%s): %s", e.Error.Code, code, e.Error.Message)
	}
	return json.Unmarshal(msg.Data, reply)
}

// decodeEvent reads a decided event's envelope. Not JSON or not an event: ignored (nil, nil),
// as only the approval service publishes here. A version this reader does not know: an error,
// or it would wait forever for a decision that was made.
func decodeEvent(data []byte) (*Approval, error) {
	var event ApprovalEvent
	if err := json.Unmarshal(data, &event); err != nil || event.Data.ActionID == "" {
		return nil, nil
	}
	version := eventVersion
	if event.Version != nil {
		version = *event.Version
	}
	if version != eventVersion {
		return nil, fmt.Errorf("unsupported approval event version %d: this reader understands %d", version, eventVersion)
	}
	return &event.Data, nil
}

func report(approval Approval) int {
	by := deref(approval.DecidedBy)
	switch approval.Status {
	case "approved":
		fmt.Printf("approved by %s: paying invoice 42\n", by)
		return exitApproved
	case "rejected":
		fmt.Printf("not paid: rejected by %s (%s)\n", by, deref(approval.DecisionReason))
	default:
		fmt.Printf("not paid: %s\n", approval.Status)
	}
	return exitNotApproved
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return strconv.FormatInt(time.Now().UnixNano(), 36)
	}
	return hex.EncodeToString(b)
}

func fail(format string, args ...any) int {
	fmt.Fprintf(os.Stderr, "go-requester: "+format+"\n", args...)
	return exitFailed
}
