using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Tests.Cli;

public class SineChannelTests
{
    [Fact]
    public void The_handler_pings_so_a_dead_connection_fails_instead_of_hanging()
    {
        using var handler = SineChannel.CreateHandler();

        Assert.Equal(TimeSpan.FromSeconds(30), handler.KeepAlivePingDelay);
        Assert.Equal(TimeSpan.FromSeconds(20), handler.KeepAlivePingTimeout);
        Assert.Equal(HttpKeepAlivePingPolicy.Always, handler.KeepAlivePingPolicy);
        Assert.Equal(TimeSpan.FromSeconds(10), handler.ConnectTimeout);
        Assert.True(handler.EnableMultipleHttp2Connections);
    }

    [Fact]
    public void The_channel_opens_over_it()
    {
        // Opening connects nothing; it only checks that GrpcChannel takes the handler.
        using var channel = SineChannel.Open(new Uri("http://localhost:5000"));

        Assert.Equal("localhost:5000", channel.Target);
    }
}
