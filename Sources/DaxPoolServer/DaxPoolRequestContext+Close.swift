import Hummingbird
import NIOCore

extension DaxPoolRequestContext {
    /// Has the connection closed as soon as the response to this request has been written: the connection is asked
    /// to quiesce (`ChannelShouldQuiesceEvent`), and Hummingbird's connection state handler, with this request still
    /// in progress, closes it right after the response's end instead of reading what the client sends next.
    func closeConnectionAfterResponse() {
        channel.pipeline.fireUserInboundEventTriggered(ChannelShouldQuiesceEvent())
    }
}
