package kubeauth

import (
	"context"
	"testing"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// TestAccessDecisionsAreCachedPerUserExtra checks that a cached decision
// is reused only for the same user with the same extra attributes: the
// SubjectAccessReview is sent them, and an authorizer may decide on them.
func TestAccessDecisionsAreCachedPerUserExtra(t *testing.T) {
	cs := fake.NewClientset()
	var reviews []authzv1.SubjectAccessReviewSpec
	cs.PrependReactor("create", "subjectaccessreviews", func(a k8stesting.Action) (bool, runtime.Object, error) {
		sar := a.(k8stesting.CreateAction).GetObject().(*authzv1.SubjectAccessReview)
		reviews = append(reviews, sar.Spec)
		// Allowed only from the scope the extra attribute names.
		sar.Status.Allowed = len(sar.Spec.Extra["scope"]) == 1 && sar.Spec.Extra["scope"][0] == "orders"
		return true, sar, nil
	})
	r := &Reviewer{Reviews: cs, Config: &rest.Config{Host: "https://127.0.0.1:1"}}
	if err := r.init(); err != nil {
		t.Fatal(err)
	}
	user := func(scope ...string) authnv1.UserInfo {
		return authnv1.UserInfo{Username: "u", UID: "1", Groups: []string{"g"}, Extra: map[string]authnv1.ExtraValue{"scope": scope}}
	}
	ctx := context.Background()
	if d := r.authorize(ctx, user("orders"), "list", "ns"); d != nil {
		t.Fatalf("the orders scope was denied: %v", d)
	}
	if d := r.authorize(ctx, user("orders"), "list", "ns"); d != nil || len(reviews) != 1 {
		t.Fatalf("the same user again: %v after %d reviews; want allowed from the cache", d, len(reviews))
	}
	if d := r.authorize(ctx, user("billing"), "list", "ns"); d == nil {
		t.Fatalf("a user with other extra attributes was allowed from the first one's cached decision (%d reviews)", len(reviews))
	}
	if len(reviews) != 2 {
		t.Fatalf("%d SubjectAccessReviews; want 2", len(reviews))
	}
}
