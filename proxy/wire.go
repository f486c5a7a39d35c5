package proxy

import (
	"net/http"

	"github.com/cardvault/cardvault/vault"
)

// The wire model of a call's outcome: what the proxy routes answer. A
// server writes Reply's status and body as they are.

// SendReply is a synchronous call's answer: the provider's answer, masked
// ({"status", "headers", "body"}), and with Options.Debug the rendered
// request.
type SendReply struct {
	*Response
	Populated *Rendered `json:"populated_template,omitempty"`
}

// QueuedReply is an asynchronous call's: {"id", "status": "queued"}.
type QueuedReply struct {
	ID        string    `json:"id"`
	Status    string    `json:"status"`
	Populated *Rendered `json:"populated_template,omitempty"`
}

// ReceivedReply is a synchronous Receive's: the item that holds the answer.
type ReceivedReply struct {
	vault.Item
	Populated *Rendered `json:"populated_template,omitempty"`
}

// queued is the answer of an asynchronous call id.
func queued(id string, populated *Rendered) (int, any) {
	return http.StatusAccepted, QueuedReply{ID: id, Status: "queued", Populated: populated}
}

// Reply is the status and body that answer r: 200 with the provider's
// answer, or 202 queued.
func (r Result) Reply() (int, any) {
	if r.Response == nil {
		return queued(r.ID, r.Populated)
	}
	return http.StatusOK, SendReply{Response: r.Response, Populated: r.Populated}
}

// Reply is the status and body that answer r, a Receive for user: 200 with
// the stored item, or 202 queued.
func (r Received) Reply(user string) (int, any) {
	if r.ID != "" {
		return queued(r.ID, r.Populated)
	}
	return http.StatusOK, ReceivedReply{Item: r.Item.Of(user), Populated: r.Populated}
}
