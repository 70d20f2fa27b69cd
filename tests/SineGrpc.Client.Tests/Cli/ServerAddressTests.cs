using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Tests.Cli;

public sealed class ServerAddressTests
{
    private static ParsedArguments Args(params string[] args) => ArgumentParser.Parse(ModelsOptions.Command, args);

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    public void Without_option_or_environment_the_server_is_local(string? fromEnvironment)
    {
        Assert.Equal(new Uri("http://localhost:5000"), ServerAddress.Parse(Args(), fromEnvironment));
    }

    [Fact]
    public void The_environment_names_the_server_when_the_option_does_not()
    {
        Assert.Equal(new Uri("https://gpu-box:7000"), ServerAddress.Parse(Args(), "https://gpu-box:7000"));
        Assert.Equal(new Uri("http://127.0.0.1:6000"), ServerAddress.Parse(Args("--server", "http://127.0.0.1:6000"), "https://gpu-box:7000"));
    }

    [Fact]
    public void A_bad_address_names_where_it_came_from()
    {
        var fromEnvironment = Assert.Throws<UsageException>(() => ServerAddress.Parse(Args(), "gpu-box:7000"));
        Assert.Equal("SINE_SERVER must be an http:// or https:// address such as http://localhost:5000, not 'gpu-box:7000'", fromEnvironment.Message);

        var fromOption = Assert.Throws<UsageException>(() => ServerAddress.Parse(Args("--server", "gpu-box:7000"), "http://ok:1"));
        Assert.StartsWith("--server must be", fromOption.Message);
    }
}
