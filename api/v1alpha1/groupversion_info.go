// Package v1alpha1 holds the orderflow.io/v1alpha1 API: the Order resource,
// its condition types and reasons.
//
// +kubebuilder:object:generate=true
// +groupName=orderflow.io
package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/scheme"
)

var (
	// GroupVersion is the group and version of the Order resource.
	GroupVersion = schema.GroupVersion{Group: "orderflow.io", Version: "v1alpha1"}

	// SchemeBuilder adds the types of this package to a scheme.
	SchemeBuilder = &scheme.Builder{GroupVersion: GroupVersion}

	// AddToScheme adds the types of this package to a scheme.
	AddToScheme = SchemeBuilder.AddToScheme
)
