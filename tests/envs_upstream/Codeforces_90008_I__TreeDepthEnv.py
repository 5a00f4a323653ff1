import gymnasium
import ast
import json


class TreeNode:
    def __init__(self, value, children=None):
        self.value = value
        self.children = children or []


class TreeDepthEnv(gymnasium.Env):
    def __init__(self, env_str: str = None):
        super().__init__()

        # [Required] Define the action names
        self.OBSERVE = 0
        self.CHILDREN = 1
        self.DONE = 2
        self.VALUE = 3

        # [Required] Define the action mapping
        self.func_mapping = {
            "Observe": self.OBSERVE,
            "Children": self.CHILDREN,
            "Value": self.VALUE,
            "Done": self.DONE,
        }

        if env_str is not None:
            # the options hold the tree as nested [value, [children...]] lists; the env decodes them
            # into TreeNode objects here, so reset expects a decoded tree under "root"
            options = ast.literal_eval(env_str.split("@")[1])
            self.reset({"root": self._decode(options["tree"])})
        else:
            self.reset()

    @staticmethod
    def _decode(item):
        value, children = item
        return TreeNode(value, [TreeDepthEnv._decode(child) for child in children])

    # [Required] Define the property and staticmethod of the environment
    @property
    def finished(self) -> bool:
        return self._done

    @property
    def reward(self):
        return float(self._reward)

    @staticmethod
    def from_env_str(env_str: str):
        prefix = "TreeDepthEnv@"
        if not env_str.startswith(prefix):
            return None
        return TreeDepthEnv(env_str=env_str)

    # [Required] Define the reset method of the environment
    def reset(self, options={}):
        self.root = options["root"]
        self.nodes = []
        self._index(self.root)
        self._reward = 0
        self._done = False
        self.step_count = 0
        return "Environment has been reset."

    def _index(self, node):
        self.nodes.append(node)
        for child in node.children:
            self._index(child)

    # [Required] Get the reference answer of the environment
    def get_ref_answer(self):
        def depth(node):
            return 1 + max((depth(child) for child in node.children), default=0)
        return depth(self.root)

    # [Required] Define the step method of the environment
    def step(self, action: str):
        self.step_count += 1
        try:
            call_dict = json.loads(action)
            assert "name" in call_dict, "function call doesn't have `name`"
            assert "parameters" in call_dict, "function call doesn't have `parameters`"
            action_name = call_dict["name"]
            params = call_dict["parameters"]

            if action_name not in self.func_mapping:
                raise ValueError(f"Invalid action: {action_name}")

            action_code = self.func_mapping[action_name]

            if action_code == self.OBSERVE:
                msg = self.Observe()
            elif action_code == self.CHILDREN:
                if "node" in params:
                    msg = self.Children(params["node"])
                else:
                    msg = "Error: 'node' parameter is missing for CHILDREN action."
            elif action_code == self.VALUE:
                if "node" in params:
                    msg = self.Value(params["node"])
                else:
                    msg = "Error: 'node' parameter is missing for VALUE action."
            elif action_code == self.DONE:
                if "answer" in params:
                    msg = self.Done(params["answer"])
                else:
                    msg = "Error: 'answer' parameter is missing for DONE action."
        except Exception as e:
            msg = f"Error: {str(e)}"

        return True, msg

    # All the actions of the environment
    def Observe(self):
        r"""
        Show how many nodes the tree has; node 0 is the root.

        Args:
            None

        Returns:
            str: The number of nodes.

        Example Output:
            "5"
        """
        return str(len(self.nodes))

    def Children(self, node: int):
        r"""
        List the children of a node.

        Args:
            node (int): The node's number, from 0 (numbered in depth-first order).

        Returns:
            str: The children's numbers as a JSON list.

        Example Output:
            "[1, 3]"
        """
        current = self.nodes[node]
        return json.dumps([self.nodes.index(child) for child in current.children])

    def Value(self, node: int):
        r"""
        Read the value stored in a node.

        Args:
            node (int): The node's number, from 0.

        Returns:
            str: The value.

        Example Output:
            "7"
        """
        return str(self.nodes[node].value)

    def Done(self, answer):
        r"""
        Submit the depth of the tree (a single node has depth 1).

        Args:
            answer (int): The depth.

        Returns:
            str: The result, with the reward.

        Example Output:
            "Your answer: 3, Reference answer: 3, Result: Correct, reward=1"
        """
        ref_answer = self.get_ref_answer()
        correct = answer == ref_answer
        self._reward = 1 if correct else 0
        self._done = True
        msg = f"Your answer: {answer}, Reference answer: {ref_answer}, Result: {'Correct' if correct else 'Incorrect'}"
        return msg + f", reward={self._reward}"

    # Define the solve method of the environment
    def solve(self):
        r"""
        Walk the tree breadth first with Children, counting the levels.

        Returns:
            str: The result message of Done.
        """
        self.step(json.dumps({"name": "Observe", "parameters": {}}))
        level, depth = [0], 0
        while level:
            depth += 1
            following = []
            for node in level:
                following += json.loads(self.step(json.dumps({"name": "Children", "parameters": {"node": node}}))[1])
            level = following
        return self.step(json.dumps({"name": "Done", "parameters": {"answer": depth}}))[1]


# Test the environment
if __name__ == "__main__":
    # test case 1
    print("Test Case 1:")
    test_env_str1 = "TreeDepthEnv@{'tree': [1, [[2, [[4, []], [5, [[8, []]]]]], [3, [[6, []], [7, []]]]]]}"
    env1 = TreeDepthEnv.from_env_str(test_env_str1)
    print(env1.solve())
    print("step count:", env1.step_count)

    # test case 2
    print("\nTest Case 2:")
    test_env_str2 = "TreeDepthEnv@{'tree': [10, [[20, [[30, [[40, [[50, []]]]]]]]]]}"
    env2 = TreeDepthEnv.from_env_str(test_env_str2)
    print(env2.solve())
    print("step count:", env2.step_count)
