using SineGrpc.Client.Cli;

namespace SineGrpc.Client.Tests.Cli;

public class CliAppTests
{
    private static async Task<(int ExitCode, string Stdout, string Stderr)> Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        var exitCode = await CliApp.RunAsync(args, stdout, stderr, stderrIsTerminal: false, CancellationToken.None);
        return (exitCode, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public async Task No_arguments_prints_usage_and_fails()
    {
        var (exitCode, _, stderr) = await Run();

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("Usage: sine <command>", stderr);
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("-h")]
    [InlineData("help")]
    public async Task Help_lists_the_commands(string help)
    {
        var (exitCode, stdout, _) = await Run(help);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("track", stdout);
        Assert.Contains("models", stdout);
    }

    [Theory]
    [InlineData("track", "--help")]
    [InlineData("help", "track")]
    public async Task Command_help_lists_its_options(string first, string second)
    {
        var (exitCode, stdout, _) = await Run(first, second);

        Assert.Equal(ExitCodes.Success, exitCode);
        Assert.Contains("Usage: sine track", stdout);
        foreach (var option in new[] { "--input", "--mask", "--prompts", "--output", "--overlay", "--server", "--model", "--max-frames", "--encoding", "--jpeg-quality" })
        {
            Assert.Contains(option, stdout);
        }
    }

    [Fact]
    public async Task Unknown_command_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("trak");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("unknown command 'trak'", stderr);
    }

    [Fact]
    public async Task Bad_option_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("models", "--sever", "http://x");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("unknown option '--sever'", stderr);
    }

    [Fact]
    public async Task Track_without_objects_is_a_usage_error()
    {
        var (exitCode, _, stderr) = await Run("track", "--input", ".", "--output", "out");

        Assert.Equal(ExitCodes.Usage, exitCode);
        Assert.Contains("--mask", stderr);
    }

    [Fact]
    public async Task Unreachable_server_prints_the_status_and_a_hint()
    {
        // Port 9 (discard) on the loopback: nothing listens there, so the connection is refused.
        var (exitCode, _, stderr) = await Run("models", "--server", "http://127.0.0.1:9");

        Assert.Equal(ExitCodes.Failure, exitCode);
        Assert.Contains("Unavailable", stderr);
        Assert.Contains("hint: is the server running", stderr);
    }
}
