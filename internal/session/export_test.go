package session

// InboundFunction is the name of the inbound function, for the tests.
var InboundFunction = inboundFunction

// FunctionRetry is how long a store waits to load the inbound function
// again after a passing error.
const FunctionRetry = fnRetry
