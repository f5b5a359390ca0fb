package session

// InboundFunction is the name of the inbound function, for the tests.
var InboundFunction = inboundFunction
